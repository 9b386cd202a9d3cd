use proptest::prelude::*;

use super::*;

const HEADER: &str = "consumer_id,consumer_name,pattern,sdk_language,time_zone,tags,primary_name,primary_email,technical_email,credential_id,environment,prefix,services,created_at";

fn csv(rows: &[&str]) -> Result<ImportFile, Problems> {
    let text = std::iter::once(HEADER)
        .chain(rows.iter().copied())
        .collect::<Vec<_>>()
        .join("\n");
    read(ImportFormat::Csv, text.as_bytes(), &Progress::default())
}

fn messages(result: Result<ImportFile, Problems>) -> Vec<String> {
    result
        .expect_err("the file should be refused")
        .listed
        .iter()
        .map(ToString::to_string)
        .collect()
}

const GOOD: &str = "acme,Acme Corp,server_sdk,python,Europe/Berlin,gold;eu,Ann,ann@acme.example,ops@acme.example,key_1,production,sk_live_ab,billing;search,2026-01-15";

#[test]
fn a_good_csv_reads_into_consumers_and_credentials() {
    let file = csv(&[GOOD, "acme,,,,,,,,,key_2,staging,sk_test_cd,,"]).unwrap();
    assert_eq!(file.consumers.len(), 1);
    let c = &file.consumers[0];
    assert_eq!(c.name, "Acme Corp");
    let tags: Vec<&str> = c.tags.iter().flatten().map(Tag::as_str).collect();
    assert_eq!(tags, ["gold", "eu"]);
    assert_eq!(c.contacts.len(), 2);
    assert_eq!(c.credentials.len(), 2);
    assert_eq!(
        c.credentials[0].services.as_deref(),
        Some(&["billing".to_string(), "search".to_string()][..])
    );
    assert_eq!(
        c.credentials[0].created_at.unwrap().rfc3339(),
        "2026-01-15T00:00:00Z"
    );
    assert_eq!(c.credentials[1].environment, Environment::Staging);
    assert_eq!(file.credential_count(), 2);
}

#[test]
fn every_csv_problem_names_its_row_and_column() {
    let bad_email =
        "acme,Acme,server_sdk,python,Europe/Berlin,,Ann,bob@,,key_1,production,sk_live_ab,,";
    assert_eq!(
        messages(csv(&[bad_email])),
        ["row 2, column primary_email: 'bob@' is not an e-mail address"]
    );

    let cases: &[(&str, &str)] = &[
        (
            ",Acme,server_sdk,python,Europe/Berlin,,,a@b.example,,,,,,",
            "row 2, column consumer_id: every row needs the id of its consumer",
        ),
        (
            "a c,Acme,server_sdk,python,Europe/Berlin,,,a@b.example,,,,,,",
            "row 2, column consumer_id: ' ' is not allowed in an external id",
        ),
        (
            "acme,,server_sdk,python,Europe/Berlin,,,a@b.example,,,,,,",
            "row 2, column consumer_name: a consumer needs a name",
        ),
        (
            "acme,Acme,carrier,,Europe/Berlin,,,a@b.example,,,,,,",
            "row 2, column pattern: 'carrier' is not one of: server_sdk, webhook_receiver, ci_cd_pipeline, mobile_app, no_code_connector, direct_http",
        ),
        (
            "acme,Acme,server_sdk,,Europe/Berlin,,,a@b.example,,,,,,",
            "row 2, column sdk_language: a server SDK integration needs its language",
        ),
        (
            "acme,Acme,mobile_app,,Mars/Base,,,a@b.example,,,,,,",
            "row 2, column time_zone: 'Mars/Base' is not a time zone; use a name such as Europe/Berlin or America/New_York",
        ),
        (
            "acme,Acme,mobile_app,,UTC,,Ann,,,,,,,",
            "row 2, column primary_email: the primary contact needs an e-mail address",
        ),
        (
            "acme,Acme,mobile_app,,UTC,,,,,,,,,",
            "row 2: a consumer needs a primary or technical contact: notices go to them",
        ),
        (
            "acme,Acme,mobile_app,,UTC,a;b\u{7},,a@b.example,,,,,,",
            "row 2, column tags: tag 'b\u{7}': a tag cannot contain a comma or a control character",
        ),
        (
            "acme,Acme,mobile_app,,UTC,,,a@b.example,,k1,prod,sk_live_ab,,",
            "row 2, column environment: 'prod' is not one of: production, staging, development, sandbox",
        ),
        (
            "acme,Acme,mobile_app,,UTC,,,a@b.example,,k1,production,,,",
            "row 2, column prefix: a credential needs the visible start of the key (its prefix)",
        ),
        (
            "acme,Acme,mobile_app,,UTC,,,a@b.example,,k1,production,s k,,",
            "row 2, column prefix: ' ' is not allowed in a prefix",
        ),
        (
            "acme,Acme,mobile_app,,UTC,,,a@b.example,,,production,sk_live_ab,,",
            "row 2, column credential_id: a credential needs its id from your key-issuing system",
        ),
        (
            "acme,Acme,mobile_app,,UTC,,,a@b.example,,k1,production,sk_live_ab,,31/12/2026",
            "row 2, column created_at: '31/12/2026' is not a date; write 2026-11-30 or 2026-11-30T10:00:00Z",
        ),
        (
            "acme,Acme,mobile_app,,UTC,,,a@b.example,,k1,production,sk_live_ab",
            "row 2: has 12 fields but the header has 14; is a comma inside a value not quoted?",
        ),
    ];
    for (row, expected) in cases {
        assert_eq!(messages(csv(&[row])), [*expected], "for {row}");
    }
}

#[test]
fn rows_of_one_consumer_must_agree_and_ids_must_be_unique() {
    let rows = [GOOD, "acme,ACME,,,,,,,,key_1,production,sk_live_zz,,"];
    assert_eq!(
        messages(csv(&rows)),
        [
            "row 3, column consumer_name: 'ACME' differs from 'Acme Corp' on row 2 for the same consumer_id; repeat the value or leave it empty",
            "row 3, column credential_id: 'key_1' is already used at row 2; each credential id appears once",
        ]
    );
}

#[test]
fn headers_are_checked_first() {
    let text = "consumer_id,name,pattern\nacme,Acme,mobile_app";
    let problems = messages(read(
        ImportFormat::Csv,
        text.as_bytes(),
        &Progress::default(),
    ));
    assert!(problems[0].starts_with("row 1, column 2: 'name' is not a column Rekey knows; the columns are consumer_id, consumer_name"), "{problems:?}");
    assert_eq!(
        problems[1],
        "row 1: the header lacks the column 'consumer_name'"
    );
    assert_eq!(
        messages(read(ImportFormat::Csv, b"", &Progress::default())),
        ["the file: the file is empty; the first row names the columns"]
    );
    assert_eq!(
        messages(csv(&[])),
        ["the file: the file describes no consumers"]
    );
}

#[test]
fn text_that_is_not_utf8_is_named() {
    let mut bytes = format!("{HEADER}\n").into_bytes();
    bytes.extend_from_slice(b"acme,Acm\xe9,mobile_app,,UTC,,,a@b.example,,,,,,\n");
    assert_eq!(
        messages(read(ImportFormat::Csv, &bytes, &Progress::default())),
        ["row 2, column consumer_name: is not UTF-8 text; save the file as CSV UTF-8"]
    );
}

#[test]
fn a_byte_order_mark_and_quoted_commas_are_fine() {
    let text =
        format!("\u{feff}{HEADER}\nacme,\"Acme, Inc.\",mobile_app,,UTC,,,a@b.example,,,,,,\n");
    let file = read(ImportFormat::Csv, text.as_bytes(), &Progress::default()).unwrap();
    assert_eq!(file.consumers[0].name, "Acme, Inc.");
    assert_eq!(file.consumers[0].tags, None);
}

#[test]
fn a_good_json_file_reads_like_its_csv() {
    let json = r#"{"consumers": [{"id": "acme", "name": "Acme Corp", "pattern": "server_sdk", "sdk_language": "python",
        "time_zone": "Europe/Berlin", "tags": ["gold", "eu"],
        "contacts": [{"role": "primary", "name": "Ann", "email": "ann@acme.example"}, {"role": "technical", "email": "ops@acme.example"}],
        "credentials": [{"id": "key_1", "environment": "production", "prefix": "sk_live_ab", "services": ["billing", "search"], "created_at": "2026-01-15", "max_age_days": 90}]}]}"#;
    let from_json = read(ImportFormat::Json, json.as_bytes(), &Progress::default()).unwrap();
    let from_csv = csv(&[GOOD]).unwrap();
    let (j, c) = (&from_json.consumers[0], &from_csv.consumers[0]);
    assert_eq!(
        (&j.name, &j.tags, &j.contacts),
        (&c.name, &c.tags, &c.contacts)
    );
    assert_eq!(j.credentials[0].max_age_days, Some(90));
    assert_eq!(j.credentials[0].services, c.credentials[0].services);
}

#[test]
fn every_json_problem_names_its_path() {
    let cases: &[(&str, &str)] = &[
        (
            r#"{"consumers": [{"id": "acme""#,
            "line 1, column 28: the file is not valid JSON (it ends too early)",
        ),
        (
            r#"[1, 2]"#,
            "the file: the file must be an object with a list \"consumers\": {\"consumers\": [...]}",
        ),
        (
            r#"{"consumers": [3]}"#,
            "consumers[0]: must be an object {…}",
        ),
        (
            r#"{"consumers": [{"id": "a", "name": "A", "pattern": "mobile_app", "time_zone": "UTC", "colour": "red", "contacts": [{"role": "primary", "email": "a@b.example"}]}]}"#,
            "consumers[0].colour: 'colour' is not a field Rekey knows here; the fields are id, name, pattern, sdk_language, time_zone, tags, contacts, credentials",
        ),
        (
            r#"{"consumers": [{"id": "a", "name": "A", "pattern": "mobile_app", "time_zone": "UTC", "contacts": [{"role": "boss", "email": "a@b.example"}]}]}"#,
            "consumers[0].contacts[0].role: 'boss' is not one of: primary, technical, escalation, security",
        ),
        (
            r#"{"consumers": [{"id": "a", "name": "A", "pattern": "mobile_app", "time_zone": "UTC", "contacts": [{"role": "primary", "email": "nope"}]}]}"#,
            "consumers[0].contacts[0].email: 'nope' is not an e-mail address",
        ),
        (
            r#"{"consumers": [{"id": "a", "name": ["A"], "pattern": "mobile_app", "time_zone": "UTC", "contacts": [{"role": "primary", "email": "a@b.example"}]}]}"#,
            "consumers[0].name: must be text (or a number)",
        ),
        (
            r#"{"consumers": [{"id": "a", "name": "A", "pattern": "mobile_app", "time_zone": "UTC", "tags": "x", "contacts": [{"role": "primary", "email": "a@b.example"}]}]}"#,
            "consumers[0].tags: must be a list of text [\"a\", \"b\"]",
        ),
        (
            r#"{"consumers": [{"id": "a", "name": "A", "pattern": "mobile_app", "time_zone": "UTC", "contacts": [{"role": "primary", "email": "a@b.example"}], "credentials": [{"id": "k", "environment": "production", "prefix": "sk_ab", "max_age_days": 0}]}]}"#,
            "consumers[0].credentials[0].max_age_days: '0' is not a number of days from 1 to 3650",
        ),
        (
            r#"{"consumers": [{"id": "a", "name": "A", "pattern": "mobile_app", "time_zone": "UTC", "contacts": [{"role": "primary", "email": "a@b.example"}, {"role": "primary", "email": "c@b.example"}]}]}"#,
            "consumers[0].contacts[1].email: the consumer already has a primary contact; give one per role",
        ),
    ];
    for (json, expected) in cases {
        assert_eq!(
            messages(read(
                ImportFormat::Json,
                json.as_bytes(),
                &Progress::default()
            )),
            [*expected],
            "for {json}"
        );
    }
}

#[test]
fn oversized_files_are_refused_before_reading() {
    let big = vec![b'a'; MAX_IMPORT_BYTES + 1];
    assert_eq!(
        messages(read(ImportFormat::Csv, &big, &Progress::default())),
        [
            "the file: the file is 50.0 MB; an import takes at most 50 MB, so split it into smaller files"
        ]
    );
}

#[test]
fn formats_come_from_a_parameter_or_a_content_type() {
    assert_eq!(
        ImportFormat::parse("text/csv; charset=utf-8").unwrap(),
        ImportFormat::Csv
    );
    assert_eq!(ImportFormat::parse("JSON").unwrap(), ImportFormat::Json);
    assert_eq!(
        ImportFormat::parse("application/xml").unwrap_err().message,
        "'application/xml' is not an import format; send CSV (text/csv) or JSON (application/json)"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_csv_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read(ImportFormat::Csv, &bytes, &Progress::default());
    }

    #[test]
    fn random_json_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read(ImportFormat::Json, &bytes, &Progress::default());
    }

    /// Text built from the header and cells that are nearly right: the reader must refuse or
    /// accept, never panic, and an accepted file has as many consumers as distinct ids.
    #[test]
    fn plausible_csv_never_panics(rows in proptest::collection::vec(
        proptest::collection::vec(prop_oneof![
            Just(String::new()), Just("acme".to_string()), Just("server_sdk".to_string()),
            Just("UTC".to_string()), Just("a@b.example".to_string()), Just("sk_live_ab".to_string()),
            Just("production".to_string()), Just("\"x,y\"".to_string()), "[ -~]{0,12}",
        ], 14), 0..20)) {
        let text = std::iter::once(HEADER.to_string())
            .chain(rows.iter().map(|r| r.join(",")))
            .collect::<Vec<_>>()
            .join("\n");
        if let Ok(file) = read(ImportFormat::Csv, text.as_bytes(), &Progress::default()) {
            let mut ids: Vec<&str> = file.consumers.iter().map(|c| c.external_id.as_str()).collect();
            ids.dedup();
            prop_assert_eq!(ids.len(), file.consumers.len());
        }
    }
}

#[test]
fn the_example_files_on_the_import_page_read_alike() {
    let csv = read(
        ImportFormat::Csv,
        include_bytes!("../../../public/import-example.csv"),
        &Progress::default(),
    )
    .unwrap();
    let json = read(
        ImportFormat::Json,
        include_bytes!("../../../public/import-example.json"),
        &Progress::default(),
    )
    .unwrap();
    assert_eq!(csv.consumers.len(), 3);
    assert_eq!(csv.credential_count(), 3);
    let acme = |f: &ImportFile| f.consumers[0].clone();
    assert_eq!(acme(&csv).contacts, acme(&json).contacts);
    assert_eq!(acme(&csv).credentials.len(), acme(&json).credentials.len());
}
