//! The words of schoolgate's emails, each with a plain-text and an HTML part. Pure: the
//! caller gathers the figures. Names of pupils and the text that raised a concern never
//! appear: only severities, categories, counts and links into the console.

use askama::Template;

/// An email ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// An immediate alert email: what kind of concern, how severe, where to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEmail {
    pub school: String,
    pub severity: u8,
    /// The category as the DSL reads it ("Self-harm").
    pub category: String,
    /// Where the alert is, in the console.
    pub link: String,
    /// The alert is about a member of staff (only the headteacher receives these).
    pub about_staff: bool,
}

#[derive(Template)]
#[template(path = "alert.txt")]
struct AlertText<'a> {
    a: &'a AlertEmail,
    urgency: &'a str,
}

#[derive(Template)]
#[template(path = "alert.html")]
struct AlertHtml<'a> {
    a: &'a AlertEmail,
    urgency: &'a str,
}

fn urgency(severity: u8) -> &'static str {
    match severity {
        5 => "Imminent risk to life: act now.",
        4 => "Serious risk of harm: please look today.",
        _ => "A concern to look at.",
    }
}

impl AlertEmail {
    pub fn render(&self) -> Result<Email, askama::Error> {
        let urgency = urgency(self.severity);
        // The subject shows in notification previews: severity and category only.
        Ok(Email {
            subject: format!(
                "[schoolgate] Severity {} alert: {} ({})",
                self.severity, self.category, self.school
            ),
            text: AlertText { a: self, urgency }.render()?,
            html: AlertHtml { a: self, urgency }.render()?,
        })
    }
}

/// An incident waiting for someone on its route: the category and a link, never who or
/// what (issue 7: "an email never carries a pupil's name or what happened").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentEmail {
    pub school: String,
    pub category: String,
    pub urgent: bool,
    /// Sent on because nobody earlier on the route opened it in time.
    pub escalated: bool,
    pub link: String,
}

#[derive(Template)]
#[template(path = "incident.txt")]
struct IncidentText<'a> {
    i: &'a IncidentEmail,
}

#[derive(Template)]
#[template(path = "incident.html")]
struct IncidentHtml<'a> {
    i: &'a IncidentEmail,
}

impl IncidentEmail {
    pub fn render(&self) -> Result<Email, askama::Error> {
        Ok(Email {
            subject: format!(
                "[schoolgate] {}A record awaits you: {} ({})",
                if self.urgent { "URGENT: " } else { "" },
                self.category,
                self.school
            ),
            text: IncidentText { i: self }.render()?,
            html: IncidentHtml { i: self }.render()?,
        })
    }
}

/// A reminder to sign the acceptable use agreement, to the person who has not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementReminder {
    pub school: String,
    pub name: String,
    pub audience: String,
    /// The academic year, `2026/27`.
    pub year: String,
    /// Their internet access is held back until they sign.
    pub gated: bool,
    pub link: String,
}

#[derive(Template)]
#[template(path = "reminder.txt")]
struct ReminderText<'a> {
    r: &'a AgreementReminder,
}

#[derive(Template)]
#[template(path = "reminder.html")]
struct ReminderHtml<'a> {
    r: &'a AgreementReminder,
}

impl AgreementReminder {
    pub fn render(&self) -> Result<Email, askama::Error> {
        Ok(Email {
            subject: format!("Please sign the acceptable use agreement ({})", self.school),
            text: ReminderText { r: self }.render()?,
            html: ReminderHtml { r: self }.render()?,
        })
    }
}

/// A reminder to a member of staff of training overdue or due soon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingReminder {
    pub school: String,
    pub name: String,
    /// (training, "overdue since 2026-10-01" or "due by 2026-12-10")
    pub items: Vec<(String, String)>,
    pub link: String,
}

#[derive(Template)]
#[template(path = "training.txt")]
struct TrainingText<'a> {
    r: &'a TrainingReminder,
}

#[derive(Template)]
#[template(path = "training.html")]
struct TrainingHtml<'a> {
    r: &'a TrainingReminder,
}

impl TrainingReminder {
    pub fn render(&self) -> Result<Email, askama::Error> {
        Ok(Email {
            subject: format!("Training due ({})", self.school),
            text: TrainingText { r: self }.render()?,
            html: TrainingHtml { r: self }.render()?,
        })
    }
}

/// Daily or weekly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestKind {
    Daily,
    Weekly,
}

/// A line of the digest: so many alerts of one severity in one category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertLine {
    pub severity: u8,
    pub category: String,
    pub alerts: i64,
}

/// A blocked category, how often, and by how many people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockedLine {
    pub category: String,
    pub blocks: i64,
    pub people: i64,
}

/// Everything the digest reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub kind: DigestKind,
    pub school: String,
    /// The day the digest is for, as a person says it ("Monday 23 November 2026").
    pub period: String,
    /// What it covers, to finish "No concerns were raised …": `yesterday`, `since
    /// Friday`, `last week`, `in the last 24 hours`.
    pub since: String,
    /// The console's address, for links.
    pub console: String,
    pub alerts: Vec<AlertLine>,
    /// Alerts still waiting for the DSL, whenever raised.
    pub open_alerts: i64,
    /// Alerts about staff in the period: the headteacher's copy only.
    pub staff_alerts: Option<i64>,
    /// Incidents opened in the period and overdue now, once the incident log is in use.
    pub incidents: Option<(i64, i64)>,
    pub blocked: Vec<BlockedLine>,
    /// Health notes: dropped events, upstream failures, lists out of date, unsent mail.
    /// Empty: all well.
    pub health: Vec<String>,
    /// Once a week: what is due across the registers, counted per register (no names).
    pub due: Option<Vec<String>>,
}

#[derive(Template)]
#[template(path = "digest.txt")]
struct DigestText<'a> {
    d: &'a Digest,
    headline: &'a str,
    total: i64,
}

#[derive(Template)]
#[template(path = "digest.html")]
struct DigestHtml<'a> {
    d: &'a Digest,
    headline: &'a str,
    total: i64,
}

impl Digest {
    /// The plain statement at the top: no concerns, or how many.
    pub fn headline(&self) -> String {
        let total: i64 = self.alerts.iter().map(|a| a.alerts).sum();
        let when = &self.since;
        match total {
            0 => format!("No concerns were raised {when}."),
            1 => format!("1 concern was raised {when}."),
            n => format!("{n} concerns were raised {when}."),
        }
    }

    pub fn render(&self) -> Result<Email, askama::Error> {
        let headline = self.headline();
        let total = self.alerts.iter().map(|a| a.alerts).sum();
        let what = match self.kind {
            DigestKind::Daily => "Online safety digest",
            DigestKind::Weekly => "Weekly online safety summary",
        };
        Ok(Email {
            subject: format!("[schoolgate] {what} for {}: {headline}", self.period),
            text: DigestText {
                d: self,
                headline: &headline,
                total,
            }
            .render()?,
            html: DigestHtml {
                d: self,
                headline: &headline,
                total,
            }
            .render()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest() -> Digest {
        Digest {
            kind: DigestKind::Daily,
            school: "Demo Primary <School>".into(),
            period: "Monday 23 November 2026".into(),
            since: "yesterday".into(),
            console: "https://schoolgate.school.example".into(),
            alerts: vec![],
            open_alerts: 0,
            staff_alerts: None,
            incidents: None,
            blocked: vec![],
            health: vec![],
            due: None,
        }
    }

    #[test]
    fn a_day_with_nothing_says_so_plainly() {
        let e = digest().render().expect("renders");
        assert!(
            e.subject.contains("No concerns were raised yesterday."),
            "{}",
            e.subject
        );
        assert!(e.text.contains("No concerns were raised yesterday."));
        assert!(e.html.contains("No concerns were raised yesterday."));
        assert!(e.text.contains("All systems are working."), "{}", e.text);
        assert!(
            e.html.contains("Demo Primary &#60;School&#62;"),
            "HTML is escaped: {}",
            e.html
        );
    }

    #[test]
    fn counts_links_blocked_categories_and_health_are_reported() {
        let mut d = digest();
        d.alerts = vec![
            AlertLine {
                severity: 4,
                category: "Self-harm".into(),
                alerts: 2,
            },
            AlertLine {
                severity: 2,
                category: "Gambling".into(),
                alerts: 1,
            },
        ];
        d.open_alerts = 3;
        d.staff_alerts = Some(1);
        d.blocked = vec![BlockedLine {
            category: "Pornography".into(),
            blocks: 40,
            people: 3,
        }];
        d.health = vec!["12 filter events were dropped".into()];
        d.incidents = Some((2, 1));
        let e = d.render().expect("renders");
        assert!(e.subject.contains("3 concerns were raised yesterday."), "{}", e.subject);
        for part in [&e.text, &e.html] {
            assert!(part.contains("Self-harm"), "{part}");
            assert!(
                part.contains("https://schoolgate.school.example/monitor/alerts"),
                "{part}"
            );
            assert!(part.contains("Pornography"), "{part}");
            assert!(part.contains("12 filter events were dropped"), "{part}");
            assert!(part.contains("about staff"), "{part}");
            assert!(part.contains("2 recorded; 1 not yet opened"), "{part}");
        }
        assert!(e.text.contains("40 blocked requests by 3 people"), "{}", e.text);
    }

    #[test]
    fn alert_emails_carry_severity_category_and_link_only() {
        let e = AlertEmail {
            school: "Demo".into(),
            severity: 5,
            category: "Suicide".into(),
            link: "https://sg.example/monitor/alerts/7".into(),
            about_staff: false,
        }
        .render()
        .expect("renders");
        assert_eq!(e.subject, "[schoolgate] Severity 5 alert: Suicide (Demo)");
        assert!(e.text.contains("https://sg.example/monitor/alerts/7"));
        assert!(e.text.contains("Imminent risk to life"));
        assert!(
            e.html.contains("href=\"https://sg.example/monitor/alerts/7\""),
            "{}",
            e.html
        );
    }
}
