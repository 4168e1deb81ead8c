#!/usr/bin/env python3
"""Opens every page of the built book in headless Chromium and fails on what a reader
would see broken.

    python3 tools/book/check.py [--site out/book] [--shots out/book-check] [--page 08_vae.html ...]

The site is served on 127.0.0.1 by a server in this process. For each page it checks:
  * the page loads (HTTP 200, the document completes);
  * every <img> has loaded (naturalWidth > 0);
  * every formula is typeset: each .arithmatex element holds KaTeX's output, no
    .katex-error element, and no $...$, \\( or \\[ left as raw text outside code;
  * no request leaves the machine (every URL is on localhost, or data:/blob:/about:);
    Chromium also resolves no other host, so nothing could;
  * no JavaScript error, and nothing fails to load (the browser's console, SEVERE).
Then it searches the book for one word, as a reader would. It prints one line per page
with its formula and image counts, then the totals, saves screenshots of a few pages, and
exits 1 naming each page and what is wrong.
Debian packages: chromium, chromium-driver, python3-selenium (make book-check installs them).
"""

import argparse
import functools
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Screenshots to look at: page -> (file, what to scroll into view first, or None).
SCREENSHOTS = {"index.html": ("home.png", None), "08_vae.html": ("08_vae.png", None),
               "13_fisher_autoencoder.html": ("13_fisher_autoencoder-figures.png", "article img"),
               "anomaly_mode.html": ("anomaly_mode-code.png", "article pre")}
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about", "file"}

# Flags that keep a root, headless Chromium from calling Google's hosts (sync, updates,
# field trials, QUIC probes). --host-resolver-rules makes every other host unresolvable,
# so even a page that asks for one cannot leave the machine; the check still sees it ask.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--metrics-recording-only",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    "--window-size=1280,1000", "--hide-scrollbars",
]

# What the page says about itself once loaded: run in the page by Selenium.
PAGE_REPORT_JS = r"""
const article = document.querySelector("article") || document.body;
const images = [...document.images].map(img => ({
  src: img.getAttribute("src"), url: img.src, loaded: img.complete && img.naturalWidth > 0 }));
const formulas = [...article.querySelectorAll(".arithmatex")];
const untypeset = formulas.filter(f => !f.querySelector(".katex") && !f.matches(".katex-error"))
                          .map(f => f.textContent.slice(0, 80));
const errors = [...article.querySelectorAll(".katex-error")]
                 .map(e => e.getAttribute("title") || e.textContent.slice(0, 80));
// Raw math left in the text: walk text nodes outside code and KaTeX's own output.
const raw = [];
const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT, {
  acceptNode: n => n.parentElement.closest("pre, code, .katex, .katex-error, script, style")
                   ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT });
const rawMath = /\$\$|\$[^\s$][^$]*\$|\\\(|\\\[/;
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const m = n.textContent.match(rawMath);
  if (m) raw.push(n.textContent.slice(Math.max(0, m.index - 20), m.index + 60).trim());
}
return { images, untypeset, errors, raw,
         typeset: article.querySelectorAll(".katex").length,
         loaded: document.readyState === "complete" };
"""


def serve(site_dir):
    """A quiet HTTP server for site_dir on 127.0.0.1 (a free port), in a thread."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    class QuietServer(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            # Chromium drops a connection it no longer needs (a page it has left): the
            # write fails with a broken pipe, which is no error of the book's.
            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                super().handle_error(request, client_address)
    handler = functools.partial(Quiet, directory=site_dir)
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def book_pages(site_dir):
    """Every page of the book: the site's HTML files but the 404 page."""
    pages = []
    for folder, _, names in os.walk(site_dir):
        pages += [os.path.relpath(os.path.join(folder, name), site_dir)
                  for name in names if name.endswith(".html") and name != "404.html"]
    return sorted(pages)


def start_chromium(profile_dir):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    # Of DevTools' events only the network's: the requests are all the check reads.
    options.add_experimental_option("perfLoggingPrefs", {"enableNetwork": True,
                                                         "enablePage": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.get("about:blank")
    requested_urls(driver)                           # forget the browser's own start-up
    driver.get_log("browser")
    return driver


def is_local(url):
    parts = urllib.parse.urlsplit(url)
    return parts.scheme in LOCAL_SCHEMES or parts.hostname in LOCAL_HOSTS


def requested_urls(driver):
    """The URLs the page asked for since the last call (DevTools' Network events)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def wait_for_images(driver, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if driver.execute_script("return [...document.images].every(i => i.complete)"):
            return
        time.sleep(0.1)


def check_page(driver, base, page):
    """Loads one page; returns (problems, typeset formula count, image count)."""
    url = base + page
    try:
        urllib.request.urlopen(url, timeout=30).close()   # the server has the page
        driver.get(url)
    except Exception as error:                       # a time-out or a browser failure
        return [f"does not load: {error}"], 0, 0
    wait_for_images(driver)
    report = driver.execute_script(PAGE_REPORT_JS)
    problems = what_the_page_shows(report) + what_the_browser_saw(driver, report)
    return problems, report["typeset"], len(report["images"])


def what_the_page_shows(report):
    """The problems a reader sees: images, formulas, a page that did not finish."""
    problems = [] if report["loaded"] else ["the document did not finish loading"]
    problems += [f"image does not load: {image['src']}"
                 for image in report["images"] if not image["loaded"]]
    problems += [f"formula not typeset: {text}" for text in report["untypeset"]]
    problems += [f"KaTeX cannot typeset a formula: {text}" for text in report["errors"]]
    problems += [f"raw math left in the text: ...{text}..." for text in report["raw"]]
    return problems


def what_the_browser_saw(driver, report):
    """The problems behind the page: requests off the machine, console errors (less those
    the page's report already names: a missing image, a formula KaTeX refused)."""
    problems = [f"request leaves the machine: {url}"
                for url in requested_urls(driver) if not is_local(url)]
    missing = [image["url"] for image in report["images"] if not image["loaded"]]
    for entry in driver.get_log("browser"):
        said_already = ("KaTeX: " in entry["message"] or
                        any(entry["message"].startswith(url + " ") for url in missing))
        if entry["level"] == "SEVERE" and not said_already:
            problems.append(f"browser console: {entry['message']}")
    return problems


def check_search(driver, base, query="reparameterization"):
    """Types a word every edition of the book explains into the search box; the problems."""
    driver.get(base)
    box = driver.find_element(By.CSS_SELECTOR, "input.md-search__input")
    driver.execute_script("arguments[0].focus()", box)
    box.send_keys(query)
    deadline = time.time() + 10
    while time.time() < deadline:
        results = driver.find_elements(By.CSS_SELECTOR, ".md-search-result__item")
        if results:
            print(f"search: '{query}' finds {len(results)} pages")
            return []
        time.sleep(0.1)
    return [f"search for '{query}' shows no result"]


def screenshot(driver, path, scroll_to):
    if scroll_to:
        driver.execute_script("const e = document.querySelector(arguments[0]);"
                              "if (e) e.scrollIntoView({block: 'center'});", scroll_to)
    driver.save_screenshot(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", default="out/book")
    parser.add_argument("--shots", default="out/book-check")
    parser.add_argument("--page", action="append", default=None,
                        help="check only this page (e.g. 08_vae.html)")
    args = parser.parse_args()
    if not os.path.isfile(os.path.join(args.site, "index.html")):
        sys.exit(f"book-check: {args.site}/index.html is missing; run `make book` first")

    pages = book_pages(args.site) if args.page is None else args.page
    os.makedirs(args.shots, exist_ok=True)
    server = serve(args.site)
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    profile = tempfile.mkdtemp(prefix="book-check-chromium-")
    driver = start_chromium(profile)
    failures, total_formulas, total_images = {}, 0, 0
    try:
        for page in pages:
            started = time.time()
            problems, formulas, images = check_page(driver, base, page)
            total_formulas += formulas
            total_images += images
            print(f"{'FAILED' if problems else 'ok':6}  {page:46} formulas {formulas:4}  "
                  f"images {images:3}  {time.time() - started:4.1f} s", flush=True)
            if problems:
                failures[page] = problems
            if page in SCREENSHOTS and not problems:
                screenshot(driver, os.path.join(args.shots, SCREENSHOTS[page][0]),
                           SCREENSHOTS[page][1])
        if args.page is None:
            problems = check_search(driver, base)
            if problems:
                failures["(search)"] = problems
    finally:
        driver.quit()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)

    print(f"book-check: {len(pages)} pages, {total_formulas} formulas typeset, "
          f"{total_images} images; screenshots in {args.shots}/")
    for page, problems in failures.items():
        for problem in problems:
            print(f"book-check: {page}: {problem}")
    if failures:
        print(f"book-check: {len(failures)} of {len(pages)} pages FAILED")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
