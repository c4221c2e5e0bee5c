//! Devices and assets: the hardware and software a school owns, who has it, and how it
//! left — securely — at the end of its life.
//!
//! The DfE's digital and technology standards ask for an asset register with serial numbers,
//! owners, locations and the date each device was securely disposed of (DFE-DL-01), with
//! end-of-support and licence dates so nothing runs unsupported (DFE-DL-02). The rules that
//! matter are here: a device is only *disposed* with a disposal record that names the day,
//! the method and who collected it, with a certificate of destruction for anything that
//! held data and a WEEE receipt unless it went back to its supplier; and a device still on
//! loan cannot be disposed of at all. The CSV import and export of the hardware register are
//! here too, so that a technician can move a spreadsheet in and out.

use std::fmt;
use std::io::Read;
use std::net::IpAddr;
use std::str::FromStr;

use time::Date;

use crate::import::{ImportRejected, RowError, defuse, header_key, parse_date, parse_yes_no, read_table};
use crate::people::UnknownValue;

/// What a piece of hardware is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum HardwareKind {
    Laptop,
    Desktop,
    Tablet,
    Chromebook,
    Phone,
    Server,
    Network,
    Printer,
    Display,
    Storage,
    Other,
}

impl HardwareKind {
    pub const ALL: [HardwareKind; 11] = [
        HardwareKind::Laptop,
        HardwareKind::Desktop,
        HardwareKind::Tablet,
        HardwareKind::Chromebook,
        HardwareKind::Phone,
        HardwareKind::Server,
        HardwareKind::Network,
        HardwareKind::Printer,
        HardwareKind::Display,
        HardwareKind::Storage,
        HardwareKind::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HardwareKind::Laptop => "laptop",
            HardwareKind::Desktop => "desktop",
            HardwareKind::Tablet => "tablet",
            HardwareKind::Chromebook => "chromebook",
            HardwareKind::Phone => "phone",
            HardwareKind::Server => "server",
            HardwareKind::Network => "network",
            HardwareKind::Printer => "printer",
            HardwareKind::Display => "display",
            HardwareKind::Storage => "storage",
            HardwareKind::Other => "other",
        }
    }

    /// Whether the device can hold personal data, and so needs a certificate of destruction.
    /// Printers and network kit keep address books, logs and cached jobs, so they count.
    pub fn holds_data(self) -> bool {
        !matches!(self, HardwareKind::Display)
    }
}

impl fmt::Display for HardwareKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HardwareKind {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let whole = header_key(s);
        // A plural ("Laptops") names the same kind; "nas" is not a plural.
        let singular = whole.strip_suffix('s').unwrap_or(&whole);
        let known = |key: &str| HardwareKind::ALL.into_iter().find(|k| k.as_str() == key);
        known(&whole)
            .or_else(|| known(singular))
            .or(match whole.as_str() {
                "notebook" => Some(HardwareKind::Laptop),
                "pc" | "workstation" => Some(HardwareKind::Desktop),
                "ipad" => Some(HardwareKind::Tablet),
                "switch" | "router" | "accesspoint" | "firewall" => Some(HardwareKind::Network),
                "monitor" | "projector" | "screen" => Some(HardwareKind::Display),
                "nas" | "harddrive" | "usbdrive" => Some(HardwareKind::Storage),
                _ => None,
            })
            .ok_or_else(|| UnknownValue::new("hardware kind", s))
    }
}

/// One device in the hardware register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardware {
    /// The school's asset tag: unique within the school.
    pub tag: String,
    pub kind: HardwareKind,
    pub make: String,
    pub model: String,
    pub serial: String,
    pub location: String,
    pub encrypted: bool,
    pub antimalware_current: bool,
    pub purchased_on: Option<Date>,
    /// When the maker stops security updates for its operating system (DFE-DL-02).
    pub end_of_support: Option<Date>,
    /// A fixed network address: the DNS server attributes what it asks to this device.
    pub address: Option<IpAddr>,
    /// The filtering group of a device that is nobody's in particular (a class set).
    pub group: Option<String>,
}

/// How a device was disposed of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisposalMethod {
    /// Storage physically destroyed (shredded, crushed, degaussed).
    Destroyed,
    /// Storage wiped with a certified tool, then the device recycled.
    WipedAndRecycled,
    /// Returned to its supplier or lessor at the end of a lease.
    ReturnedToSupplier,
}

impl DisposalMethod {
    pub const ALL: [DisposalMethod; 3] = [
        DisposalMethod::Destroyed,
        DisposalMethod::WipedAndRecycled,
        DisposalMethod::ReturnedToSupplier,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DisposalMethod::Destroyed => "destroyed",
            DisposalMethod::WipedAndRecycled => "wiped_recycled",
            DisposalMethod::ReturnedToSupplier => "returned",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DisposalMethod::Destroyed => "Storage physically destroyed",
            DisposalMethod::WipedAndRecycled => "Wiped (certified) and recycled",
            DisposalMethod::ReturnedToSupplier => "Returned to supplier or lessor",
        }
    }
}

impl FromStr for DisposalMethod {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DisposalMethod::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownValue::new("disposal method", s))
    }
}

/// A secure disposal record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disposal {
    pub on: Date,
    pub method: DisposalMethod,
    /// The company or person who collected the device.
    pub collected_by: String,
    /// The certificate of destruction's reference.
    pub certificate: String,
    /// The Waste Electrical and Electronic Equipment receipt or transfer note.
    pub weee_receipt: String,
}

impl Disposal {
    /// Whether this record lets `kind` be marked disposed of on `today`; every reason it
    /// does not, in words for the technician. A device out on loan must come back first.
    pub fn check(&self, kind: HardwareKind, on_loan: bool, today: Date) -> Result<(), Vec<String>> {
        let mut problems = Vec::new();
        if on_loan {
            problems.push("the device is on loan: record its return first".to_owned());
        }
        if self.on > today {
            problems.push("the disposal date is in the future".to_owned());
        }
        if self.collected_by.trim().is_empty() {
            problems.push("say who collected the device".to_owned());
        }
        if kind.holds_data() && self.certificate.trim().is_empty() {
            problems.push(format!(
                "a {kind} can hold personal data: give the certificate of destruction reference"
            ));
        }
        if self.method != DisposalMethod::ReturnedToSupplier && self.weee_receipt.trim().is_empty() {
            problems.push("give the WEEE receipt or waste transfer note reference".to_owned());
        }
        if problems.is_empty() { Ok(()) } else { Err(problems) }
    }
}

/// A device taken from a pupil, and its return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confiscation {
    pub item: String,
    pub taken_at: i64,
    pub held_where: String,
    pub returned_to: Option<String>,
    pub returned_at: Option<i64>,
}

impl Confiscation {
    /// Whether a return can be recorded: to a named person, not before it was taken.
    pub fn check_return(&self, to: &str, at: i64) -> Result<(), String> {
        if self.returned_at.is_some() {
            return Err("the device has already been returned".into());
        }
        if to.trim().is_empty() {
            return Err("say who the device was returned to".into());
        }
        if at < self.taken_at {
            return Err("the return is before the device was taken".into());
        }
        Ok(())
    }
}

/// A good row of a hardware CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedHardware {
    pub line: u64,
    pub hardware: Hardware,
    /// The identifier (UPN, staff code or username) of the person it is lent to, if any.
    pub loaned_to: Option<String>,
}

/// The columns of the hardware CSV, in the order the export writes them.
pub const HARDWARE_COLUMNS: [&str; 14] = [
    "Asset tag",
    "Kind",
    "Make",
    "Model",
    "Serial",
    "Location",
    "Encrypted",
    "Anti-malware current",
    "Purchased",
    "End of support",
    "Address",
    "Group",
    "Loaned to",
    "Disposed",
];

fn hardware_column(header: &str) -> Option<usize> {
    let key = header_key(header);
    let alias = match key.as_str() {
        "tag" | "assettag" | "asset" | "assetno" | "assetnumber" => 0,
        "kind" | "type" | "devicetype" | "category" => 1,
        "make" | "manufacturer" | "brand" => 2,
        "model" => 3,
        "serial" | "serialno" | "serialnumber" => 4,
        "location" | "room" | "where" => 5,
        "encrypted" | "encryption" => 6,
        "antimalwarecurrent" | "antimalware" | "antivirus" | "avuptodate" => 7,
        "purchased" | "purchasedate" | "purchasedon" | "dateofpurchase" => 8,
        "endofsupport" | "osendofsupport" | "supportends" => 9,
        "address" | "ipaddress" | "ip" | "fixedaddress" => 10,
        "group" | "filteringgroup" => 11,
        "loanedto" | "assignedto" | "owner" | "user" => 12,
        "disposed" | "disposedon" => 13,
        _ => return None,
    };
    Some(alias)
}

/// Reads a hardware CSV file whole: every problem, by line, or every row. Asset tags must be
/// unique within the file; the store matches them against the register. Rows with a
/// `Disposed` date are skipped, so an export can be edited and imported back.
pub fn parse_hardware<R: Read>(origin: &str, input: R) -> Result<Vec<ImportedHardware>, ImportRejected> {
    let table = read_table(origin, input)?;
    let mut columns = [None; HARDWARE_COLUMNS.len()];
    for (i, h) in table.headers.iter().enumerate() {
        if let Some(c) = hardware_column(h) {
            columns[c].get_or_insert(i);
        }
    }
    let reject = |errors| ImportRejected {
        origin: origin.to_owned(),
        errors,
    };
    if columns[0].is_none() || columns[1].is_none() {
        let found = table.headers.join(", ");
        return Err(reject(vec![RowError {
            line: 1,
            reason: format!("the header needs an asset tag column and a kind column (found: {found})"),
        }]));
    }
    let mut errors = table.errors;
    let mut out: Vec<ImportedHardware> = Vec::new();
    for (line, record) in &table.rows {
        let cell = |c: usize| {
            columns[c]
                .and_then(|i| record.get(i))
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let mut problems = Vec::new();
        let tag = cell(0).unwrap_or_default().to_owned();
        if tag.is_empty() {
            problems.push("the asset tag is empty".to_owned());
        } else if let Some(first) = out.iter().find(|h| h.hardware.tag.eq_ignore_ascii_case(&tag)) {
            problems.push(format!("asset tag {tag} is already used on line {}", first.line));
        }
        let kind = match cell(1).map(str::parse::<HardwareKind>) {
            Some(Ok(k)) => k,
            Some(Err(e)) => {
                problems.push(e.to_string());
                HardwareKind::Other
            }
            None => {
                problems.push("the kind is empty".to_owned());
                HardwareKind::Other
            }
        };
        let mut yes_no = |c: usize, what: &str| match cell(c) {
            None => false,
            Some(v) => parse_yes_no(v).unwrap_or_else(|| {
                problems.push(format!("{what} is {v:?}, not yes or no"));
                false
            }),
        };
        let encrypted = yes_no(6, "encrypted");
        let antimalware_current = yes_no(7, "anti-malware current");
        let mut day = |c: usize, what: &str| {
            cell(c).and_then(|v| {
                let d = parse_date(v);
                if d.is_none() {
                    problems.push(format!("{what} {v:?} is not a date (use YYYY-MM-DD or DD/MM/YYYY)"));
                }
                d
            })
        };
        let purchased_on = day(8, "the purchase date");
        let end_of_support = day(9, "the end of support");
        // A disposed device's row (an export read back in) is left as it is: disposal is
        // recorded in the console, with its certificate, never by a file.
        if cell(13).is_some() {
            continue;
        }
        let address = match cell(10).map(str::parse::<IpAddr>) {
            None => None,
            Some(Ok(a)) => Some(a),
            Some(Err(_)) => {
                problems.push(format!(
                    "the address {:?} is not an IP address",
                    cell(10).unwrap_or_default()
                ));
                None
            }
        };
        let text = |c: usize| cell(c).unwrap_or_default().to_owned();
        if problems.is_empty() {
            out.push(ImportedHardware {
                line: *line,
                hardware: Hardware {
                    tag,
                    kind,
                    make: text(2),
                    model: text(3),
                    serial: text(4),
                    location: text(5),
                    encrypted,
                    antimalware_current,
                    purchased_on,
                    end_of_support,
                    address,
                    group: cell(11).map(str::to_owned),
                },
                loaned_to: cell(12).map(str::to_owned),
            });
        } else {
            errors.extend(problems.into_iter().map(|reason| RowError { line: *line, reason }));
        }
    }
    if out.is_empty() && errors.is_empty() {
        errors.push(RowError {
            line: 1,
            reason: "the file has a header but no devices".into(),
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(reject(errors))
    }
}

/// One row of the hardware export: the device, who has it, and when it was disposed of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardwareRow {
    pub hardware: Hardware,
    pub loaned_to: Option<String>,
    pub disposed_on: Option<Date>,
}

/// The hardware register as CSV, in the columns [`parse_hardware`] reads.
pub fn hardware_csv(rows: &[HardwareRow]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let yes = |b: bool| if b { "yes" } else { "no" };
    let day = |d: Option<Date>| d.map(|d| d.to_string()).unwrap_or_default();
    // Writing to a Vec cannot fail; a failure would only drop a row, never panic.
    let _ = w.write_record(HARDWARE_COLUMNS);
    for r in rows {
        let h = &r.hardware;
        let cells = [
            h.tag.clone(),
            h.kind.as_str().to_owned(),
            h.make.clone(),
            h.model.clone(),
            h.serial.clone(),
            h.location.clone(),
            yes(h.encrypted).to_owned(),
            yes(h.antimalware_current).to_owned(),
            day(h.purchased_on),
            day(h.end_of_support),
            h.address.map(|a| a.to_string()).unwrap_or_default(),
            h.group.clone().unwrap_or_default(),
            r.loaned_to.clone().unwrap_or_default(),
            day(r.disposed_on),
        ];
        let _ = w.write_record(cells.iter().map(|c| defuse(c).into_owned()));
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn disposal() -> Disposal {
        Disposal {
            on: date!(2026 - 11 - 01),
            method: DisposalMethod::WipedAndRecycled,
            collected_by: "Northern IT Recycling Ltd".into(),
            certificate: "COD-2026-1142".into(),
            weee_receipt: "WEEE-88412".into(),
        }
    }

    #[test]
    fn a_complete_disposal_record_is_accepted() {
        assert_eq!(
            disposal().check(HardwareKind::Laptop, false, date!(2026 - 11 - 02)),
            Ok(())
        );
    }

    #[test]
    fn disposal_needs_a_certificate_for_anything_that_held_data() {
        let d = Disposal {
            certificate: " ".into(),
            ..disposal()
        };
        let problems = d.check(HardwareKind::Laptop, false, date!(2026 - 11 - 02)).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("certificate"), "{problems:?}");
        // A monitor holds no data.
        assert_eq!(d.check(HardwareKind::Display, false, date!(2026 - 11 - 02)), Ok(()));
    }

    #[test]
    fn a_device_on_loan_or_without_a_collector_or_receipt_cannot_be_disposed() {
        let d = Disposal {
            collected_by: String::new(),
            weee_receipt: String::new(),
            on: date!(2026 - 12 - 01),
            ..disposal()
        };
        let problems = d.check(HardwareKind::Tablet, true, date!(2026 - 11 - 02)).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
        // Returned to the lessor: no WEEE receipt is needed, the certificate still is.
        let returned = Disposal {
            method: DisposalMethod::ReturnedToSupplier,
            weee_receipt: String::new(),
            ..disposal()
        };
        assert_eq!(
            returned.check(HardwareKind::Laptop, false, date!(2026 - 11 - 02)),
            Ok(())
        );
    }

    #[test]
    fn a_confiscated_device_is_returned_once_to_someone() {
        let c = Confiscation {
            item: "Phone".into(),
            taken_at: 1000,
            held_where: "School office safe".into(),
            returned_to: None,
            returned_at: None,
        };
        assert!(c.check_return("", 2000).is_err());
        assert!(c.check_return("Mrs Evans (parent)", 900).is_err());
        assert_eq!(c.check_return("Mrs Evans (parent)", 2000), Ok(()));
        let done = Confiscation {
            returned_at: Some(2000),
            ..c
        };
        assert!(done.check_return("Mrs Evans", 3000).is_err());
    }

    #[test]
    fn hardware_csv_round_trips() {
        let text = "Asset tag,Type,Manufacturer,Model,Serial number,Room,Encrypted,Antivirus,Purchase date,End of support,IP address,Group,Assigned to\n\
                    SG-001,Laptop,Lenovo,ThinkPad E14,PF3ABC12,Office,yes,yes,2024-09-01,2029-10-01,,,T001\n\
                    SG-002,Chromebooks,Acer,C733,NXH8,ICT suite,no,yes,03/09/2023,,10.0.5.21,KS2,\n";
        let rows = parse_hardware("assets.csv", text.as_bytes()).expect("good file");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].hardware.kind, HardwareKind::Chromebook);
        assert_eq!(rows[1].hardware.purchased_on, Some(date!(2023 - 09 - 03)));
        assert_eq!(rows[1].hardware.address, Some("10.0.5.21".parse().expect("ip")));
        assert_eq!(rows[0].loaned_to.as_deref(), Some("T001"));
        let export: Vec<HardwareRow> = rows
            .iter()
            .map(|r| HardwareRow {
                hardware: r.hardware.clone(),
                loaned_to: r.loaned_to.clone(),
                disposed_on: None,
            })
            .collect();
        let again = parse_hardware("export.csv", hardware_csv(&export).as_bytes()).expect("export reads back");
        assert_eq!(
            again,
            rows.iter()
                .map(|r| ImportedHardware {
                    line: r.line,
                    ..r.clone()
                })
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn bad_hardware_rows_are_all_named_by_line() {
        let text = "Tag,Kind,Encrypted,Purchased,Address\n\
                    SG-001,laptop,yes,2024-09-01,\n\
                    ,toaster,perhaps,31/02/2024,10.0.0.300\n\
                    sg-001,desktop,no,,\n";
        let e = parse_hardware("assets.csv", text.as_bytes()).unwrap_err();
        let lines: Vec<u64> = e.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 3, 3, 3, 3, 4], "{e}");
        assert!(
            e.to_string()
                .contains("line 4: asset tag sg-001 is already used on line 2"),
            "{e}"
        );
        let no_kind = parse_hardware("a.csv", "Tag,Make\nX,Dell\n".as_bytes()).unwrap_err();
        assert_eq!(no_kind.errors[0].line, 1);
    }
}
