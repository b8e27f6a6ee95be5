//! The web UI in headless Chromium, driven over the W3C WebDriver protocol
//! by ChromeDriver: a steward signs in, decides a review item with the
//! keyboard, follows the merged customer, opens the dashboard; a viewer
//! gets no decision buttons. With `TIERLINK_SCREENSHOTS=<dir>` each main
//! page is saved there as a PNG (how `docs/screenshots/` is made).
//!
//! Needs `TIERLINK_TEST_CHROMEDRIVER` (e.g. `/usr/bin/chromedriver`, from
//! Debian's `chromium-driver`; `.ci/run` installs it and sets it). Without
//! the variable the test says so and passes; with it set, a missing driver
//! fails the test.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::serve::{ServedDemo, STEWARD, VIEWER};

/// The key WebDriver names an element reference with.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long to wait for the page to show something.
const PATIENCE: Duration = Duration::from_secs(20);

struct Driver {
    process: Child,
    http: reqwest::Client,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.process.kill().ok();
        self.process.wait().ok();
    }
}

impl Driver {
    async fn start(chromedriver: &str) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {chromedriver}: {error}"));
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(started.elapsed() < PATIENCE, "chromedriver did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let chromium =
            std::env::var("TIERLINK_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&json!({ "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": chromium,
                    "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                             "--window-size=1280,900", "--lang=en-US"],
                },
            }}}))
            .send()
            .await
            .expect("a session")
            .json()
            .await
            .expect("session JSON");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_string();
        Driver {
            process,
            http,
            session: format!("{base}/session/{session}"),
        }
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("chromedriver answers")
            .json()
            .await
            .expect("JSON");
        answer["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The element matching `css`, waiting for it to appear.
    async fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            let found = self
                .command(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({ "using": "css selector", "value": css })),
                )
                .await;
            if let Some(id) = found[ELEMENT].as_str() {
                return id.to_string();
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{css} never appeared on {}",
                self.script("return location.href").await
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn count(&self, css: &str) -> usize {
        self.command(
            reqwest::Method::POST,
            "/elements",
            Some(json!({ "using": "css selector", "value": css })),
        )
        .await
        .as_array()
        .map_or(0, Vec::len)
    }

    async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Replaces what the field holds with `text`, typed key by key.
    async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/clear"),
            Some(json!({})),
        )
        .await;
        self.command(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    async fn text(&self, css: &str) -> String {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::GET,
            &format!("/element/{element}/text"),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    async fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let element = self.find(css).await;
        self.command(
            reqwest::Method::GET,
            &format!("/element/{element}/attribute/{name}"),
            None,
        )
        .await
        .as_str()
        .map(str::to_string)
    }

    async fn script(&self, script: &str) -> Value {
        self.command(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Presses a key on the page, as a user would.
    async fn press(&self, key: &str) {
        self.command(
            reqwest::Method::POST,
            "/actions",
            Some(
                json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": [
                    { "type": "keyDown", "value": key }, { "type": "keyUp", "value": key }
                ]}]}),
            ),
        )
        .await;
    }

    /// Saves the page as `<dir>/<name>.png` when screenshots are asked for.
    async fn screenshot(&self, name: &str) {
        let Some(dir) = std::env::var_os("TIERLINK_SCREENSHOTS").map(PathBuf::from) else {
            return;
        };
        // Let charts and fonts settle.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let png = self
            .command(reqwest::Method::GET, "/screenshot", None)
            .await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().expect("a screenshot"))
            .expect("base64 PNG");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), bytes).expect("screenshot written");
    }

    async fn quit(&self) {
        self.command(reqwest::Method::DELETE, "", None).await;
    }
}

/// The driver to use, or `None` (with a note) when browser tests are not
/// asked for.
fn chromedriver() -> Option<String> {
    match std::env::var("TIERLINK_TEST_CHROMEDRIVER") {
        Ok(path) => {
            assert!(
                std::path::Path::new(&path).exists(),
                "TIERLINK_TEST_CHROMEDRIVER={path} does not exist: install Debian's chromium and chromium-driver"
            );
            Some(path)
        }
        Err(_) => {
            eprintln!("browser test not run: set TIERLINK_TEST_CHROMEDRIVER=/usr/bin/chromedriver (as .ci/run does)");
            None
        }
    }
}

async fn sign_in(driver: &Driver, base: &str, token: &str) {
    driver.go(&format!("{base}/#/login")).await;
    driver
        .script("localStorage.clear(); localStorage.setItem('tierlink.lang', 'en');")
        .await;
    driver.go(&format!("{base}/#/login")).await;
    driver.type_into("input#token", token).await;
    driver.click("button#login").await;
    // Signed in once the app has left the login page for its start page.
    let started = Instant::now();
    while driver.script("return location.hash").await == "#/login" {
        assert!(started.elapsed() < PATIENCE, "sign-in did not finish");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_steward_decides_in_the_browser_and_sees_the_merged_customer() {
    let Some(chromedriver) = chromedriver() else {
        return;
    };
    let served = ServedDemo::start("TIERLINK_TEST_BROWSER_").await;
    let base = served.base.clone();
    let driver = Driver::start(&chromedriver).await;

    // A wrong token is refused on the login page.
    driver.go(&format!("{base}/")).await;
    driver.type_into("input#token", "wrong").await;
    driver.click("button#login").await;
    assert!(!driver.text("#login-error").await.is_empty());

    // The steward signs in and lands on the review queue.
    sign_in(&driver, &base, STEWARD).await;
    driver.find("tr.review-row").await;
    assert!(driver.text("#whoami").await.contains("lin"));
    driver.screenshot("review-queue").await;
    let id = driver
        .attribute("tr.review-row", "data-id")
        .await
        .expect("an item id");
    let item = served
        .demo
        .store
        .review_item(id.parse().unwrap())
        .await
        .unwrap()
        .expect("the item");

    // The pair side by side, differences marked, the explanation drawn.
    driver.click("tr.review-row").await;
    assert_eq!(
        driver
            .attribute("#review-detail", "data-id")
            .await
            .as_deref(),
        Some(id.as_str())
    );
    driver.find("#accept").await;
    assert!(driver.count("tr.diff").await + driver.count("tr.same").await >= 3);
    assert!(driver.count(".contrib .bar").await >= 1);
    let page = driver.text("#review-detail").await;
    assert!(
        page.contains(&item.candidate.left.source_id)
            && page.contains(&item.candidate.right.source_id)
    );
    driver.screenshot("review-item").await;

    // `a` accepts; the merged customer holds both records.
    driver.press("a").await;
    driver.find("#outcome a.customer-link").await;
    let stored = served
        .demo
        .store
        .review_item(item.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.status, "accepted");
    driver.click("#outcome a.customer-link").await;
    let golden_id = served
        .demo
        .store
        .golden_id_of(&item.candidate.left)
        .await
        .unwrap()
        .expect("linked");
    assert_eq!(
        served
            .demo
            .store
            .golden_id_of(&item.candidate.right)
            .await
            .unwrap()
            .as_deref(),
        Some(golden_id.as_str())
    );
    assert_eq!(
        driver
            .attribute("#customer", "data-golden-id")
            .await
            .as_deref(),
        Some(golden_id.as_str())
    );
    assert!(!driver.text("#customer-name").await.is_empty());
    let customer = driver.text("#customer").await;
    assert!(
        customer.contains(&item.candidate.left.source_id)
            && customer.contains(&item.candidate.right.source_id)
    );
    driver.screenshot("customer").await;

    // A record a strong identifier linked says which one, not a weight.
    let (strong, label) = served
        .demo
        .store
        .golden_links()
        .await
        .unwrap()
        .into_iter()
        .find_map(|link| {
            let field = link.evidence.matched.as_ref()?.strong_id.clone()?;
            let label = match &*field {
                "account" => "Account",
                "order" => "Order",
                _ => return None,
            };
            Some((link, label))
        })
        .expect("the demo links some records by an account or an order");
    driver
        .go(&format!("{base}/#/customers/{}", strong.golden_id))
        .await;
    driver
        .find(&format!("#customer[data-golden-id='{}']", strong.golden_id))
        .await;
    let shown = driver.text("#customer").await;
    assert!(
        shown.contains(&format!("by the same {label}")) && !shown.contains("NaN"),
        "{shown}"
    );

    // Search finds the customer by its golden id.
    driver.go(&format!("{base}/#/customers")).await;
    driver
        .type_into("input#search", &format!("{golden_id}\u{E007}"))
        .await;
    driver
        .find(&format!("tr.customer-row[data-id='{golden_id}']"))
        .await;
    driver.screenshot("customers").await;

    // The dashboard draws its charts with the current rules version.
    driver.click("[data-nav=dashboard]").await;
    driver.find("#dashboard svg#chart-distribution rect").await;
    for chart in ["chart-migration", "chart-history", "chart-by-source"] {
        driver.find(&format!("svg#{chart}")).await;
    }
    assert!(driver
        .text("#rules-version")
        .await
        .contains(&served.demo.project.tiers.version[..8]));
    driver.screenshot("dashboard").await;

    // In Chinese, the same page.
    let english = driver.text("[data-nav=dashboard]").await;
    driver.click("#lang").await;
    let chinese = driver.text("[data-nav=dashboard]").await;
    assert_ne!(english, chinese);
    assert!(
        chinese
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "{chinese}"
    );
    driver.screenshot("dashboard-zh").await;
    driver.click("#lang").await;

    driver.click("[data-nav=connectors]").await;
    driver.find("tr.connector-row").await;
    driver.screenshot("connectors").await;
    driver.click("[data-nav=push]").await;
    driver.find("tr.push-row").await;
    driver.screenshot("push").await;

    // A viewer reads the queue but gets no decision buttons.
    driver.click("#logout").await;
    sign_in(&driver, &base, VIEWER).await;
    driver.go(&format!("{base}/#/review")).await;
    driver.click("tr.review-row").await;
    driver.find("#review-detail").await;
    assert_eq!(driver.count("#accept").await, 0);
    assert_eq!(driver.count("#reject").await, 0);

    driver.quit().await;
    served.stop().await;
}
