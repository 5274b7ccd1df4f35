// The panel's only script (the CSP allows no inline one). Forms with data-confirm ask first:
// revoking a key or removing a user cannot be undone. Everything works without it.
"use strict";
document.addEventListener("submit", function (event) {
  var message = event.target.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});
