// Typesets the formulas of a page with KaTeX (copied into the book from Debian's
// libjs-katex, never fetched). pymdownx.arithmatex leaves each formula as
// <span class="arithmatex">\( ... \)</span> or <div class="arithmatex">\[ ... \]</div>;
// auto-render replaces the delimited text with KaTeX's HTML. A formula KaTeX cannot read
// is shown in red (throwOnError: false) so the page still renders and the book check
// finds it by its .katex-error class.
document.addEventListener("DOMContentLoaded", function () {
  for (const element of document.querySelectorAll(".arithmatex")) {
    renderMathInElement(element, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true },
      ],
      throwOnError: false,
    });
  }
});
