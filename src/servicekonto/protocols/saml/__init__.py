"""SAML 2.0 in the BundID profile: SP metadata in, the IdP's signed metadata out (lxml + signxml, in process)."""
