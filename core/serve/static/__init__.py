"""Package data: the page ``tfjsconv serve`` shows (index.html, app.js, style.css)."""
