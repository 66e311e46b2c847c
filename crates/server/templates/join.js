// Tells Usher that a person's browser opened this invitation: mail scanners fetch the link but
// run no script, so this request is what tells the two apart. It never uses up the link.
"use strict";
(function () {
  const form = document.querySelector("form[data-opened-url]");
  if (!form || !form.elements.token) return;
  const body = new URLSearchParams({ token: form.elements.token.value });
  fetch(form.dataset.openedUrl, { method: "POST", body, credentials: "same-origin", keepalive: true }).catch(() => {});
})();
