"""No table or figure wider than the text column at 1400 px, measured in a browser on the built
site (``_build/html``): one headless Chromium loads every page of the book in a 1400 px frame and
compares each table's and figure image's laid-out width with its article's. Skipped where the book
has not been built or no Chromium is installed."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from test_layout import BUILT, HTML, NOT_BUILT, PAGES

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)),
                None)

HARNESS = """<!doctype html><html><body><pre id="width-report"></pre><script>
const pages = %s, out = {};
function measure(doc) {
  const art = doc.querySelector('article.bd-article') || doc.querySelector('main');
  const col = art.clientWidth, wide = [];
  art.querySelectorAll('table, figure img').forEach(el => {
    const w = Math.max(el.scrollWidth, el.getBoundingClientRect().width);
    if (w > col + 1) wide.push({tag: el.tagName, id: el.id || (el.closest('[id]') || {}).id || '', width: Math.round(w)});
  });
  return {col, wide};
}
function next(i) {
  if (i >= pages.length) { document.getElementById('width-report').textContent = JSON.stringify(out); return; }
  const f = document.createElement('iframe');
  f.style.width = '1400px'; f.style.height = '1000px';
  f.onload = () => setTimeout(() => {
    try { out[pages[i]] = measure(f.contentDocument); } catch (e) { out[pages[i]] = {error: String(e)}; }
    f.remove(); next(i + 1);
  }, 200);
  f.src = pages[i];
  document.body.appendChild(f);
}
next(0);
</script></body></html>"""

WIDE = """<!doctype html><html><body><main><article class="bd-article" style="width:800px">
<table id="too-wide" style="width:2000px"><tr><td>a table wider than its column</td></tr></table>
</article></main></body></html>"""


def widths(pages: list[Path], tmp: Path) -> dict[str, dict]:
    """{page URL: {"col": article width, "wide": [tables/images wider than it]}} at 1400 px."""
    harness = tmp / "harness.html"
    harness.write_text(HARNESS % json.dumps([p.resolve().as_uri() for p in pages]))
    dom = subprocess.run([CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--allow-file-access-from-files",
                          "--window-size=1400,1000", "--virtual-time-budget=120000", "--dump-dom",
                          harness.as_uri()], capture_output=True, text=True, timeout=300).stdout
    start = dom.index('<pre id="width-report">') + len('<pre id="width-report">')
    report = json.loads(dom[start:dom.index("</pre>", start)].replace("&quot;", '"').replace("&amp;", "&"))
    return report


@pytest.mark.skipif(not BUILT, reason=NOT_BUILT)
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium to lay the pages out")
def test_no_table_or_figure_is_wider_than_the_column_at_1400_px(tmp_path):
    probe = tmp_path / "wide.html"
    probe.write_text(WIDE)
    report = widths([probe, *PAGES], tmp_path)
    assert report[probe.as_uri()]["wide"] and report[probe.as_uri()]["wide"][0]["id"] == "too-wide"  # it can fail
    assert len(report) == len(PAGES) + 1
    errors = {u: r["error"] for u, r in report.items() if "error" in r}
    assert not errors, errors
    wide = {u.split("/html/")[-1]: r["wide"] for u, r in report.items() if u != probe.as_uri() and r["wide"]}
    assert not wide, wide
    assert all(r["col"] > 600 for r in report.values()), "the article column is narrower than expected at 1400 px"
