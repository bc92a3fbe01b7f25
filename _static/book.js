/* The book's small page behaviours (loaded on every page, see _config.yml html_js_files).
   - Every figure image links to its own file, so that a tap or click opens it at full size.
   - A table wider than its column is marked: a "scroll →" cue above it and a fade at its right
     edge (_static/book.css), both gone once the reader has scrolled to its last column; a wide
     display equation fades at its right edge the same way. */
(function () {
  "use strict";

  function linkFigures() {
    document.querySelectorAll(".bd-article figure img, .bd-article div.cell_output img").forEach(function (img) {
      if (img.closest("a")) return;                       // already a link
      var a = document.createElement("a");
      a.href = img.getAttribute("src");
      a.className = "figure-zoom";
      a.title = "Open the figure at full size";
      img.parentNode.insertBefore(a, img);
      a.appendChild(img);
    });
  }

  function markWideTables() {
    document.querySelectorAll(".bd-article .pst-scrollable-table-container").forEach(function (box) {
      var hint = box.previousElementSibling;
      if (!hint || !hint.classList.contains("table-scroll-hint")) {
        hint = document.createElement("p");
        hint.className = "table-scroll-hint";
        hint.setAttribute("aria-hidden", "true");
        hint.textContent = "scroll \u2192";
        box.parentNode.insertBefore(hint, box);
      }
      function update() {
        var wide = box.scrollWidth > box.clientWidth + 1;
        var end = box.scrollLeft + box.clientWidth >= box.scrollWidth - 2;
        box.classList.toggle("scrolls", wide);
        box.classList.toggle("at-end", !wide || end);
        hint.hidden = !wide;
        hint.classList.toggle("at-end", wide && end);
      }
      if (!box.dataset.scrollWatch) {
        box.dataset.scrollWatch = "1";
        box.addEventListener("scroll", update, { passive: true });
      }
      update();
    });
  }

  // A display equation wider than its box scrolls (book.css); it fades at the right edge until
  // the reader reaches its end. MathJax typesets after the page loads, so this runs again later.
  function markWideMath() {
    document.querySelectorAll('.bd-article mjx-container[display="true"]').forEach(function (box) {
      function update() {
        var wide = box.scrollWidth > box.clientWidth + 1;
        var end = box.scrollLeft + box.clientWidth >= box.scrollWidth - 2;
        box.classList.toggle("scrolls", wide);
        box.classList.toggle("at-end", !wide || end);
      }
      if (!box.dataset.scrollWatch) {
        box.dataset.scrollWatch = "1";
        box.addEventListener("scroll", update, { passive: true });
      }
      update();
    });
  }

  function ready() {
    linkFigures();
    markWideTables();
    window.addEventListener("resize", function () { markWideTables(); markWideMath(); });
    var mj = window.MathJax && window.MathJax.startup && window.MathJax.startup.promise;
    if (mj) mj.then(markWideMath);
    window.addEventListener("load", function () { markWideMath(); setTimeout(markWideMath, 1500); });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
