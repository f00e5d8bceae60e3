// The SAML HTTP-POST binding page (protocols/saml/response.py: post_form) sends its form on arrival.
// Without JavaScript the citizen presses the form's button; nothing else depends on this file.
// Loaded with `defer`, so the form is parsed; a page restored from the back-forward cache does not run it
// again, so "Back" shows the button instead of posting once more (BundID Schnittstellenbeschreibung §8.2).
"use strict";
(function () {
  var form = document.querySelector("form[data-autosubmit]");
  if (form) {
    form.submit();
  }
})();
