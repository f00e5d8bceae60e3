// The WebAuthn ceremonies of the passkey pages (web/passkey_pages.py). A form marked `data-passkey="create"`
// or `data-passkey="get"` is posted first with step=options (its CSRF token and fields included); the JSON
// answer holds a ceremony id and the publicKey options. The browser then creates or uses the passkey, and
// the form is submitted with `ceremony` and `credential` (the PublicKeyCredential as JSON). The page's texts
// come from data attributes, so everything the citizen reads is translated on the server.
// `data-passkey-conditional` on a get-form offers passkeys in the username field's autofill
// (autocomplete="username webauthn"). Without this script the pages explain that passkeys need JavaScript.
"use strict";
(function () {
  function toBytes(value) {
    var text = value.replace(/-/g, "+").replace(/_/g, "/");
    while (text.length % 4) {
      text += "=";
    }
    var raw = atob(text);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) {
      bytes[i] = raw.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var raw = "";
    for (var i = 0; i < bytes.length; i++) {
      raw += String.fromCharCode(bytes[i]);
    }
    return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      var copy = Object.assign({}, item);
      copy.id = toBytes(item.id);
      return copy;
    });
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBytes(json.challenge);
    options.user = Object.assign({}, json.user, { id: toBytes(json.user.id) });
    options.excludeCredentials = descriptors(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBytes(json.challenge);
    options.allowCredentials = descriptors(json.allowCredentials);
    return options;
  }

  function credentialJson(credential) {
    var response = credential.response;
    var out = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (credential.authenticatorAttachment) {
      out.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (response.attestationObject) {
      out.response.attestationObject = toText(response.attestationObject);
      out.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(response.authenticatorData);
      out.response.signature = toText(response.signature);
      if (response.userHandle) {
        out.response.userHandle = toText(response.userHandle);
      }
    }
    return JSON.stringify(out);
  }

  function status(form, text) {
    var box = form.querySelector("[data-passkey-status]");
    if (box) {
      box.textContent = text;
    }
  }

  function fetchOptions(form) {
    var body = new URLSearchParams(new FormData(form));
    body.set("step", "options");
    body.delete("credential");
    body.delete("ceremony");
    return fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { Accept: "application/json" }
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) {
          throw new Error(data.error || form.dataset.msgFailed);
        }
        return data;
      });
    });
  }

  function send(form, ceremony, credential) {
    form.querySelector("input[name=ceremony]").value = ceremony;
    form.querySelector("input[name=credential]").value = credentialJson(credential);
    form.submit();
  }

  var conditional = null; // the AbortController of a pending autofill request

  function run(form) {
    if (conditional) {
      conditional.abort();
      conditional = null;
    }
    status(form, form.dataset.msgWorking || "");
    fetchOptions(form)
      .then(function (data) {
        var call = form.dataset.passkey === "create"
          ? navigator.credentials.create({ publicKey: creationOptions(data.publicKey) })
          : navigator.credentials.get({ publicKey: requestOptions(data.publicKey) });
        return call.then(function (credential) {
          if (!credential) {
            throw new Error(form.dataset.msgFailed);
          }
          send(form, data.ceremony, credential);
        }, function (error) {
          throw new Error(error && error.name === "InvalidStateError" && form.dataset.msgExists
            ? form.dataset.msgExists : form.dataset.msgFailed);
        });
      })
      .catch(function (error) {
        status(form, error.message || form.dataset.msgFailed);
      });
  }

  function startConditional(form) {
    if (!window.PublicKeyCredential || !PublicKeyCredential.isConditionalMediationAvailable) {
      return;
    }
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (!available) {
        return;
      }
      fetchOptions(form).then(function (data) {
        conditional = new AbortController();
        return navigator.credentials.get({
          mediation: "conditional",
          signal: conditional.signal,
          publicKey: requestOptions(data.publicKey)
        }).then(function (credential) {
          if (credential) {
            send(form, data.ceremony, credential);
          }
        });
      }).catch(function () {
        // autofill is a convenience: the button and the password stay
      });
    });
  }

  var forms = document.querySelectorAll("form[data-passkey]");
  for (var i = 0; i < forms.length; i++) {
    (function (form) {
      // A page with a second form (the login page) starts the ceremony from a plain button, shown only here.
      var starter = form.querySelector("button[data-passkey-start]");
      var button = starter || form.querySelector("button[type=submit]");
      if (!window.PublicKeyCredential || !navigator.credentials || !window.fetch) {
        status(form, form.dataset.msgUnsupported || "");
        if (button) {
          button.disabled = true;
        }
        return;
      }
      var hint = form.querySelector("[data-passkey-needs-script]");
      if (hint) {
        hint.hidden = true;
      }
      if (starter) {
        starter.hidden = false;
        starter.addEventListener("click", function () {
          run(form);
        });
      }
      form.addEventListener("submit", function (event) {
        event.preventDefault();
        run(form);
      });
      if (form.hasAttribute("data-passkey-conditional")) {
        startConditional(form);
      }
    })(forms[i]);
  }
})();
