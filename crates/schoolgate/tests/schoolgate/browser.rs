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
    d.goto(format!("{}/dashboard", server.url))
        .await
        .expect("open the console");
    assert!(
        d.current_url().await.expect("url").as_str().contains("/sign-in"),
        "signed out: sent to sign in"
    );
    d.find(By::Id("username"))
        .await
        .expect("username field")
        .send_keys("hmarsh")
        .await
        .expect("type");
    d.find(By::Id("password"))
        .await
        .expect("password field")
        .send_keys(server.demo_password("hmarsh"))
        .await
        .expect("type");
    d.find(By::Css("form[action='/sign-in'] button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");

    let secret = d
        .find(By::Id("totp-secret"))
        .await
        .expect("enrolment page")
        .text()
        .await
        .expect("secret");
    d.find(By::Id("code"))
        .await
        .expect("code field")
        .send_keys(totp_now(&secret))
        .await
        .expect("type");
    d.find(By::Css("form[action='/sign-in/enrol'] button[type=submit]"))
        .await
        .expect("button")
        .click()
        .await
        .expect("click");
    let codes = d
        .find_all(By::Css("#recovery-codes code"))
        .await
        .expect("recovery codes");
    assert_eq!(codes.len(), 10);
    d.query(By::LinkText("I have saved them – continue"))
        .first()
        .await
        .expect("continue")
        .click()
        .await
        .expect("click");

    let heading = d
        .find(By::Tag("h1"))
        .await
        .expect("heading")
        .text()
        .await
        .expect("text");
    assert_eq!(heading, "Demo Primary School");
    let body = d.find(By::Tag("main")).await.expect("main").text().await.expect("text");
    assert!(body.contains("Headteacher"), "{body}");
    assert!(body.contains("KS2"), "{body}");
    let title = d.title().await.expect("title");
    assert_eq!(title, "Dashboard – schoolgate");
    browser.driver.clone().quit().await.expect("quit");
}
