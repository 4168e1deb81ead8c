// Typesets the formulas of a page with KaTeX (copied into the book from Debian's
// libjs-katex, never fetched). pymdownx.arithmatex leaves each formula as
// <span class="arithmatex">\( ... \)</span> or <div class="arithmatex">\[ ... \]</div>:
// the TeX between the delimiters is rendered in place, \[ \] as a displayed formula.
// A formula KaTeX cannot read (a typo, an unbalanced brace, a command it does not know)
// stays as its source, marked .katex-error with KaTeX's message as the tooltip, and the
// message goes to the console: the book check fails on either.
function typeset(element) {
  const source = element.textContent.trim();
  const display = source.startsWith("\\[");
  const tex = source.slice(2, -2);
  try {
    katex.render(tex, element, { displayMode: display, throwOnError: true });
  } catch (error) {
    element.classList.add("katex-error");
    element.title = error.message;
    console.error("KaTeX: " + error.message + " in " + source);
  }
}

document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".arithmatex").forEach(typeset);
});
