"""OpenID Connect: the provider (Authlib + joserfc), claims and discovery."""
