"""The agent's dashboard in a real browser: Debian's headless Chromium, driven by Selenium through
chromedriver, loads the page from an agent (in the guest, through QEMU's host forward; see
tests/agent/dashboard.sh), while this test sends it load. It checks that the live values change,
that a thermal event reaches the page, that the governor's placements are shown with reasons,
that the console has no errors, and inspects the screenshot it saves.

Environment: DASHBOARD_URL (the agent, http://127.0.0.1:PORT), CHROMIUM, CHROMEDRIVER,
SCREENSHOT (where the PNG goes), DASHBOARD_FLAGS (a directory the guest watches: this test
creates `heat` there to have it inject a cooling failure into photonic0, `cool` to clear it),
DASHBOARD_MODELS (model:width pairs to send load to, e.g. "mlp:16,pmlp:64")."""
import json
import os
import threading
import time
import urllib.request

import pytest
from PIL import Image, ImageStat
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

URL = os.environ["DASHBOARD_URL"]
MODELS = [(m.split(":")[0], int(m.split(":")[1])) for m in os.environ["DASHBOARD_MODELS"].split(",")]


def get(path):
    with urllib.request.urlopen(URL + path, timeout=30) as r:
        return r.status, r.read()


def infer(model, width, rows=1):
    doc = {"inputs": [{"name": "x", "shape": [rows, width], "datatype": "FP32",
                       "data": [0.01 * (i % 13) for i in range(rows * width)]}]}
    req = urllib.request.Request(f"{URL}/v2/models/{model}/infer", json.dumps(doc).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return r.status


class Load:
    """Closed-loop clients, one per model, until stopped; counts the answers."""

    def __init__(self):
        self.stop = threading.Event()
        self.done = {m: 0 for m, _ in MODELS}
        self.errors = []
        self.threads = [threading.Thread(target=self.client, args=mw, daemon=True) for mw in MODELS]
        for t in self.threads:
            t.start()

    def client(self, model, width):
        while not self.stop.is_set():
            try:
                infer(model, width)
                self.done[model] += 1
            except OSError as e:  # a refused or failed request: recorded, the load goes on
                self.errors.append(f"{model}: {e}")
                time.sleep(0.2)

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=150)


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"not within {timeout} s: {what}")


@pytest.fixture(scope="module")
def agent_ready():
    def ready():
        try:
            return get("/v2/health/ready")[0] == 200
        except OSError:
            return False
    wait_for("the agent is ready (through the host forward)", ready, 300)


@pytest.fixture(scope="module")
def load(agent_ready):
    lo = Load()
    yield lo
    lo.close()


@pytest.fixture(scope="module")
def browser(agent_ready):
    options = webdriver.ChromeOptions()
    options.binary_location = os.environ["CHROMIUM"]
    for flag in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1700"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(os.environ["CHROMEDRIVER"]), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def text(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css).text


def test_the_page_and_its_assets_are_served_by_the_agent(agent_ready):
    status, page = get("/")
    assert status == 200 and b"<title>LightOS agent</title>" in page
    for asset in ["/dashboard.js", "/dashboard.css"]:
        assert get(asset)[0] == 200
    # Nothing from elsewhere: every script and stylesheet is the agent's own.
    assert b"http://" not in page and b"https://" not in page
    view = json.loads(get("/api/v1/dashboard")[1])
    assert {d["name"] for d in view["devices"]} >= {"cpu0", "photonic0"}, view["devices"]


def test_live_values_change_while_a_load_runs(browser, load):
    browser.get(URL + "/")
    wait_for("the stream is live", lambda: text(browser, "#link") == "live", 60)
    wait_for("device cards for cpu0 and photonic0",
             lambda: browser.find_elements(By.ID, "device-cpu0") and browser.find_elements(By.ID, "device-photonic0"), 30)
    for model, _ in MODELS:
        wait_for(f"a row for model {model}", lambda: browser.find_elements(By.ID, f"model-{model}"), 30)
    wait_for("requests answered", lambda: all(load.done[m] > 0 for m, _ in MODELS), 120)

    def figures():
        jobs = {d: text(browser, f"#device-{d} [data-field=jobs]") for d in ["cpu0", "photonic0"]}
        totals = {m: text(browser, f"#model-{m} [data-field=totals]") for m, _ in MODELS}
        temperature = text(browser, "#device-photonic0 [data-field=temperature]")
        return jobs, totals, temperature

    first = figures()
    second = wait_for("every device's jobs and every model's totals change on the page",
                      lambda: (lambda f: f if all(f[0][d] != first[0][d] for d in f[0])
                               and all(f[1][m] != first[1][m] for m in f[1]) else None)(figures()), 60)
    # The temperature is a number, read live (the emulator's temperature moves with its power).
    assert float(second[2]) > 0, second
    # A latency percentile and a request rate for each model, from the window.
    for model, _ in MODELS:
        assert float(text(browser, f"#model-{model} [data-field=p99]")) > 0
        assert float(text(browser, f"#model-{model} [data-field=rate]")) > 0
    # The charts hold a history: several samples of photonic0's temperature and power.
    points = browser.execute_script(
        "return ['photonic0/temperature', 'photonic0/power'].map(k => (history.get(k) || []).length)")
    assert min(points) >= 3, points


def test_the_governor_placements_are_shown_with_their_reasons(browser, load):
    rows = wait_for("a placement row", lambda: browser.find_elements(By.CSS_SELECTOR, "#placements tbody tr"), 30)
    cells = [[td.text for td in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    governed = [c for c in cells if c[3] == "governor"]
    assert governed, cells
    assert all("PowerGovernor" in c[5] and c[4] for c in governed), governed
    assert any(c[3] == "config" and "device = \"cpu0\"" in c[5] for c in cells), cells


def test_a_thermal_event_reaches_the_page(browser, load):
    flags = os.environ["DASHBOARD_FLAGS"]
    open(os.path.join(flags, "heat"), "w").close()
    try:
        def throttled():
            rows = browser.find_elements(By.CSS_SELECTOR, "#events tbody tr")
            kinds = [r.find_elements(By.TAG_NAME, "td")[2].text for r in rows]
            return "throttle" in kinds and kinds
        wait_for("a throttle event of photonic0 in the events table", throttled, 180)
        assert text(browser, "#device-photonic0 [data-field=state]") in ("throttle", "normal", "shutdown")
        # The sampled counter follows within a sample or two.
        wait_for("photonic0's throttle count on the page",
                 lambda: int(text(browser, "#device-photonic0 [data-field=throttles]")) >= 1, 30)
    finally:
        open(os.path.join(flags, "cool"), "w").close()


def test_the_console_has_no_errors(browser, load):
    logs = browser.get_log("browser")
    errors = [l for l in logs if l["level"] == "SEVERE"]
    assert not errors, errors


def test_the_screenshot_shows_the_dashboard(browser, load):
    path = os.environ["SCREENSHOT"]
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(path)
    img = Image.open(path).convert("RGB")
    ratio = browser.execute_script("return window.devicePixelRatio")
    # Not blank: many colours and real contrast.
    assert len(img.getcolors(maxcolors=1 << 20) or []) > 50
    assert max(ImageStat.Stat(img).stddev) > 20

    def region(element):
        r = element.rect
        box = tuple(int(v * ratio) for v in (r["x"], r["y"], r["x"] + r["width"], r["y"] + r["height"]))
        return img.crop(box)

    def share(part, rgb, tolerance=40):
        px = list(part.get_flattened_data())
        near = sum(1 for p in px if all(abs(a - b) <= tolerance for a, b in zip(p, rgb)))
        return near / max(len(px), 1)

    # The header bar is dark (#1d2430).
    assert share(region(browser.find_element(By.TAG_NAME, "header")), (0x1D, 0x24, 0x30)) > 0.5
    # photonic0's chart has its temperature line (#c53030) and power line (#2b6cb0) drawn.
    chart = region(browser.find_element(By.CSS_SELECTOR, "#device-photonic0 canvas"))
    assert share(chart, (0xC5, 0x30, 0x30)) > 0.003
    assert share(chart, (0x2B, 0x6C, 0xB0)) > 0.003
    # cpu0's chart has its jobs-per-second line (#2f855a).
    assert share(region(browser.find_element(By.CSS_SELECTOR, "#device-cpu0 canvas")), (0x2F, 0x85, 0x5A)) > 0.003
