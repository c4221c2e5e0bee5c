//! The console in a real browser: headless Chromium over WebDriver.

use testkit::thirtyfour::prelude::*;

use crate::{demo, totp_now};

#[tokio::test]
async fn the_demo_headteacher_signs_in_in_a_browser_and_sees_the_dashboard() {
    let Some(browser) = testkit::browser::Browser::start("the_demo_headteacher_signs_in_in_a_browser", None).await
    else {
        return;
    };
    let server = demo(None);
    let d = &browser.driver;
    // Every element after a click is found with `query`, which waits for it: a click
    // returns before the browser has loaded the next page.
    let find = |by: By| async move { d.query(by).first().await.expect("element on the page") };
    d.goto(format!("{}/dashboard", server.url))
        .await
        .expect("open the console");
    find(By::Id("username")).await.send_keys("hmarsh").await.expect("type");
    assert!(
        d.current_url().await.expect("url").as_str().contains("/sign-in"),
        "signed out: sent to sign in"
    );
    find(By::Id("password"))
        .await
        .send_keys(server.demo_password("hmarsh"))
        .await
        .expect("type");
    find(By::Css("form[action='/sign-in'] button[type=submit]"))
        .await
        .click()
        .await
        .expect("click");

    let secret = find(By::Id("totp-secret")).await.text().await.expect("secret");
    find(By::Id("code"))
        .await
        .send_keys(totp_now(&secret))
        .await
        .expect("type");
    find(By::Css("form[action='/sign-in/enrol'] button[type=submit]"))
        .await
        .click()
        .await
        .expect("click");
    let codes = d
        .query(By::Css("#recovery-codes code"))
        .all_from_selector_required()
        .await
        .expect("recovery codes");
    assert_eq!(codes.len(), 10);
    find(By::LinkText("I have saved them – continue"))
        .await
        .click()
        .await
        .expect("click");

    find(By::Css("table caption")).await;
    let heading = find(By::Tag("h1")).await.text().await.expect("text");
    assert_eq!(heading, "Demo Primary School");
    let body = find(By::Tag("main")).await.text().await.expect("text");
    assert!(body.contains("Headteacher"), "{body}");
    assert!(body.contains("KS2"), "{body}");
    assert_eq!(d.title().await.expect("title"), "Dashboard – schoolgate");
    browser.driver.clone().quit().await.expect("quit");
}
