//! The demo school: a fictional primary school to explore schoolgate with.
//!
//! Every name here is invented for this project. UPNs use local authority number 999, which
//! no real authority has, so a demo record can never be mistaken for a real pupil's.

use register::import::make_upn;
use register::password;
use register::people::{GroupKind, PersonKind, SchoolId, YearGroup};
use register::roles::{Permission, Role};
use store::{Actor, NewAccount, NewPerson, Store};
use time::{Date, Duration, Month, OffsetDateTime};

pub const SCHOOL: &str = "Demo Primary School";

const FIRST_NAMES: [&str; 63] = [
    "Amara", "Oliver", "Zainab", "Leo", "Maja", "Arjun", "Isla", "Kofi", "Freya", "Yusuf", "Ellie", "Tomasz", "Ruby",
    "Harvey", "Aisha", "Finley", "Priya", "Noah", "Sienna", "Ibrahim", "Poppy", "Mateo", "Hana", "Alfie", "Chloe",
    "Dev", "Grace", "Oscar", "Layla", "Reuben", "Mia", "Bilal", "Evie", "Kai", "Nadia", "Theo", "Lily", "Jakub", "Ava",
    "Ravi", "Daisy", "Samuel", "Fatima", "George", "Imogen", "Aarav", "Rosie", "Jude", "Amelia", "Hamza", "Niamh",
    "Stefan", "Ivy", "Rohan", "Matilda", "Elijah", "Zara", "Callum", "Esme", "Musa", "Harriet", "Ezra", "Sofia",
];

const SURNAMES: [&str; 31] = [
    "Okafor", "Nowak", "Patel", "Hughes", "Begum", "Campbell", "Kowalski", "Adeyemi", "Murphy", "Shah", "Fletcher",
    "Ahmed", "Wright", "Popescu", "Khan", "Brennan", "Evans", "Singh", "Thornton", "Mensah", "Hussain", "Lloyd",
    "Dimitrov", "O'Neill", "Clarke", "Rahman", "Walsh", "Osei", "Bennett", "Ali", "Marsden",
];

const CLASSES: [&str; 7] = ["R Acorn", "1 Rowan", "2 Hazel", "3 Willow", "4 Beech", "5 Ash", "6 Oak"];
const PUPILS_PER_YEAR: usize = 9;

struct Adult {
    given: &'static str,
    family: &'static str,
    kind: PersonKind,
    job: &'static str,
    roles: &'static [Role],
    grants: &'static [Permission],
}

const ADULTS: [Adult; 12] = [
    Adult {
        given: "Helen",
        family: "Marsh",
        kind: PersonKind::Staff,
        job: "Headteacher",
        roles: &[Role::Headteacher],
        grants: &[],
    },
    Adult {
        given: "Daniel",
        family: "Okoro",
        kind: PersonKind::Staff,
        job: "Deputy headteacher",
        roles: &[Role::Dsl, Role::Teacher],
        grants: &[],
    },
    Adult {
        given: "Priya",
        family: "Raman",
        kind: PersonKind::Staff,
        job: "Year 5 teacher",
        roles: &[Role::DeputyDsl, Role::Teacher],
        grants: &[],
    },
    Adult {
        given: "Tom",
        family: "Fairweather",
        kind: PersonKind::Staff,
        job: "Computing lead",
        roles: &[Role::OnlineSafetyLead, Role::Teacher],
        grants: &[],
    },
    Adult {
        given: "Gareth",
        family: "Pryce",
        kind: PersonKind::Staff,
        job: "Network technician",
        roles: &[Role::ItAdministrator],
        grants: &[Permission::FilterManager],
    },
    Adult {
        given: "Sophie",
        family: "Lindqvist",
        kind: PersonKind::Staff,
        job: "Reception teacher",
        roles: &[Role::Teacher],
        grants: &[],
    },
    Adult {
        given: "Marcus",
        family: "Bell",
        kind: PersonKind::Staff,
        job: "Year 2 teacher",
        roles: &[Role::Teacher],
        grants: &[],
    },
    Adult {
        given: "Anna",
        family: "Kowalczyk",
        kind: PersonKind::Staff,
        job: "Year 4 teacher",
        roles: &[Role::Teacher],
        grants: &[],
    },
    Adult {
        given: "Ruth",
        family: "Abara",
        kind: PersonKind::Staff,
        job: "Year 6 teacher",
        roles: &[Role::Teacher],
        grants: &[],
    },
    Adult {
        given: "Jamie",
        family: "Hartley",
        kind: PersonKind::Staff,
        job: "Teaching assistant",
        roles: &[Role::SupportStaff],
        grants: &[],
    },
    Adult {
        given: "Margaret",
        family: "Ellison",
        kind: PersonKind::Governor,
        job: "Chair of Governors",
        roles: &[Role::ChairOfGovernors],
        grants: &[],
    },
    Adult {
        given: "Kwame",
        family: "Asante",
        kind: PersonKind::Governor,
        job: "Safeguarding governor",
        roles: &[Role::SafeguardingGovernor],
        grants: &[],
    },
];

/// A demo account and its password, to print once.
#[derive(Debug, Clone)]
pub struct DemoAccount {
    pub name: String,
    pub role: String,
    pub username: String,
    pub password: String,
}

/// Creates the demo school in an empty store and returns its accounts with their passwords.
pub async fn seed(store: &Store, now: i64) -> anyhow::Result<(SchoolId, Vec<DemoAccount>)> {
    let actor = Actor {
        label: "system:demo-seed".into(),
        origin: "local".into(),
    };
    let school = store.create_school(SCHOOL, now).await?;
    for (name, kind) in [
        ("EYFS", GroupKind::Pupil),
        ("KS1", GroupKind::Pupil),
        ("KS2", GroupKind::Pupil),
        ("Staff", GroupKind::Staff),
        ("Visitors", GroupKind::Visitor),
    ] {
        store.ensure_group(school, name, kind).await?;
    }

    let today = OffsetDateTime::from_unix_timestamp(now)?.date();
    let academic_year = if today.month() >= Month::September {
        today.year()
    } else {
        today.year() - 1
    };
    let mut pupils = Vec::new();
    for (year, class) in CLASSES.iter().enumerate() {
        for i in 0..PUPILS_PER_YEAR {
            let n = year * PUPILS_PER_YEAR + i;
            let year_group = YearGroup::from_number(year as i64).ok_or_else(|| anyhow::anyhow!("year {year}"))?;
            // Born in the academic year that puts them in this year group.
            let born = Date::from_calendar_date(academic_year - 5 - year as i32, Month::September, 1)?
                + Duration::days((n as i64 * 29) % 365);
            let person = NewPerson {
                kind: PersonKind::Pupil,
                external_id: Some(make_upn(999, 4321, (academic_year % 100) as u8, n as u16 + 1)),
                given_name: FIRST_NAMES[(n * 7) % FIRST_NAMES.len()].into(),
                family_name: SURNAMES[(n * 11 + 3) % SURNAMES.len()].into(),
                year: Some(year_group),
                email: None,
                date_of_birth: Some(born.to_string()),
                class: Some((*class).into()),
                job_title: None,
                roles: vec![],
                permissions: vec![],
                expires_at: None,
            };
            pupils.push(store.insert_person(school, &person, &actor, now).await?);
        }
    }

    let mut hashing = Vec::new();
    let mut adults = Vec::new();
    for (i, a) in ADULTS.iter().enumerate() {
        let username = format!(
            "{}{}",
            a.given[..1].to_lowercase(),
            a.family.to_lowercase().replace('\'', "")
        );
        let person = NewPerson {
            kind: a.kind,
            external_id: Some(format!("DEMO{:02}", i + 1)),
            given_name: a.given.into(),
            family_name: a.family.into(),
            year: None,
            email: Some(format!("{username}@demo-primary.example")),
            date_of_birth: None,
            class: None,
            job_title: Some(a.job.into()),
            roles: a.roles.to_vec(),
            permissions: a.grants.to_vec(),
            expires_at: None,
        };
        let id = store.insert_person(school, &person, &actor, now).await?;
        adults.push((id, a.roles));
        let pw = password::generate();
        let to_hash = pw.clone();
        hashing.push((
            id,
            username,
            pw,
            a,
            tokio::task::spawn_blocking(move || password::hash(&to_hash)),
        ));
    }
    let mut accounts = Vec::new();
    for (person, username, pw, a, hash) in hashing {
        let account = NewAccount {
            person,
            username: username.clone(),
            password_hash: hash.await?,
            must_change_password: false,
        };
        store.create_account(school, &account, &actor, now).await?;
        let mut role = a.roles.iter().map(|r| r.label()).collect::<Vec<_>>().join(", ");
        if a.grants.contains(&Permission::FilterManager) {
            role.push_str(" (filter manager)");
        }
        accounts.push(DemoAccount {
            name: format!("{} {}", a.given, a.family),
            role,
            username,
            password: pw,
        });
    }
    seed_registers(store, school, &pupils, &adults, &actor, now).await?;
    Ok((school, accounts))
}

/// Registers as a school would have them some weeks into the autumn term: most agreements
/// signed, consent forms back with a few refusals and some not yet returned, training
/// mostly in date with the DSL's renewal coming up, and a small asset register with loans.
/// No review has been done yet, so the reviews show as due. The patterns are fixed, so
/// every demo school looks the same. The demo's year starts on 1 September.
async fn seed_registers(
    store: &Store,
    school: SchoolId,
    pupils: &[register::people::PersonId],
    adults: &[(register::people::PersonId, &[Role])],
    actor: &Actor,
    now: i64,
) -> anyhow::Result<()> {
    use register::agreements::{Method, YearStart};
    use register::assets::{Hardware, HardwareKind};
    use register::consent::{Answer, Purpose};
    use register::training::Kind;

    let today = store::uk_day(now);
    let year_start = YearStart::default().first_day(YearStart::default().year_of(today));
    let early = (year_start + Duration::days(6)).min(today);
    store
        .ensure_default_agreements(school, year_start - Duration::days(30), now)
        .await?;
    for (n, &pupil) in pupils.iter().enumerate() {
        // One pupil in eight has not signed yet; the youngest sign with a parent.
        if n % 8 != 5 {
            let method = if n < PUPILS_PER_YEAR * 3 {
                Method::ParentOrCarer
            } else {
                Method::Paper
            };
            let by = if method == Method::ParentOrCarer { "Parent" } else { "" };
            store
                .sign_agreement(school, pupil, early, method, by, actor, now)
                .await?;
        }
        // Most parents have returned the parents' agreement too.
        if n % 6 != 2 {
            store
                .sign_agreement_for(
                    school,
                    pupil,
                    Some(register::agreements::Audience::ParentsCarers),
                    early,
                    Method::Paper,
                    "Parent",
                    actor,
                    now,
                )
                .await?;
        }
        // One in eleven forms has not come back; some parents refuse some uses.
        if n % 11 == 4 {
            continue;
        }
        for purpose in Purpose::ALL {
            let refused = match purpose {
                Purpose::SocialMedia => n % 5 == 1,
                Purpose::Newspaper => n % 3 == 0,
                Purpose::Website => n % 7 == 2,
                _ => n % 17 == 9,
            };
            let answer = if refused { Answer::Refused } else { Answer::Given };
            store
                .record_consent(school, pupil, purpose, answer, early, "Parent", actor, now)
                .await?;
        }
    }
    for (i, &(person, roles)) in adults.iter().enumerate() {
        if i % 6 != 4 {
            store
                .sign_agreement(school, person, early, Method::Console, "", actor, now)
                .await?;
        }
        let staff = !roles
            .iter()
            .any(|r| matches!(r, Role::ChairOfGovernors | Role::SafeguardingGovernor | Role::Governor));
        let mut done = vec![(Kind::AnnualUpdate, early), (Kind::Cyber, early)];
        if staff {
            done.push((Kind::Induction, today - Duration::days(400 + 30 * i as i64)));
            done.push((Kind::Prevent, today - Duration::days(200 + 40 * i as i64)));
        }
        if roles.iter().any(|r| matches!(r, Role::Dsl | Role::DeputyDsl)) {
            // The DSL's two-year training runs out in three weeks: it shows as due.
            done.push((
                Kind::Dsl,
                today - Duration::days(709 - 200 * i.saturating_sub(1) as i64),
            ));
        }
        for (kind, on) in done {
            store
                .record_training(school, person, kind, on, "Local authority", "", actor, now)
                .await?;
        }
    }
    let device = |tag: String, kind, make: &str, model: &str, location: &str, group: Option<&str>| Hardware {
        serial: format!("DEMO-{tag}"),
        tag,
        kind,
        make: make.into(),
        model: model.into(),
        location: location.into(),
        encrypted: true,
        antimalware_current: true,
        purchased_on: Some(year_start - Duration::days(700)),
        end_of_support: Some(year_start + Duration::days(1500)),
        address: None,
        group: group.map(str::to_owned),
    };
    for i in 1..=6 {
        let mut h = device(
            format!("CB-{i:03}"),
            HardwareKind::Chromebook,
            "Acer",
            "Chromebook 314",
            "KS2 trolley",
            Some("KS2"),
        );
        if i == 6 {
            h.antimalware_current = false;
        }
        store.save_hardware(school, &h, actor, now).await?;
    }
    for (i, &(person, roles)) in adults.iter().take(9).enumerate() {
        if roles.contains(&Role::ItAdministrator) {
            continue;
        }
        let mut h = device(
            format!("LT-{:03}", i + 1),
            HardwareKind::Laptop,
            "Lenovo",
            "ThinkPad E14",
            "Staff",
            None,
        );
        if i == 2 {
            // An old laptop whose operating system runs out of support this month.
            h.end_of_support = Some(today + Duration::days(12));
        }
        let id = store.save_hardware(school, &h, actor, now).await?;
        store
            .lend_hardware(school, id, person, year_start, None, actor, now)
            .await?;
    }
    store
        .add_software(
            school,
            "Microsoft 365 A1",
            "EDU-DEMO-1",
            120,
            Some(today + Duration::days(20)),
            actor,
            now,
        )
        .await?;
    store
        .add_software(
            school,
            "Purple Mash",
            "PM-DEMO",
            70,
            Some(year_start + Duration::days(330)),
            actor,
            now,
        )
        .await?;
    Ok(())
}
