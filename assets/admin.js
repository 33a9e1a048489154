// Copy buttons for the admin pages. The values sit in readonly inputs, so
// everything works without this script; it only adds the buttons.
(function () {
  "use strict";
  function copied(button) {
    var label = button.textContent;
    button.textContent = "Copied";
    button.classList.add("done");
    setTimeout(function () { button.textContent = label; button.classList.remove("done"); }, 1500);
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      input.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(function () { copied(button); }, function () {
          if (document.execCommand("copy")) { copied(button); }
        });
      } else if (document.execCommand("copy")) {
        copied(button);
      }
    });
  });
  // Clicking in a readonly value selects all of it, ready for Ctrl+C.
  document.querySelectorAll(".copy input[readonly]").forEach(function (input) {
    input.addEventListener("focus", function () { input.select(); });
  });
})();
