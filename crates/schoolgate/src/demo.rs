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
            store.insert_person(school, &person, &actor, now).await?;
        }
    }

    let mut hashing = Vec::new();
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
    Ok((school, accounts))
}
