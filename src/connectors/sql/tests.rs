//! Unit tests of the sql connector: identifiers and quoting, the SQL of a
//! page, parameter conversion, NUMERIC decoding and config problems.

use std::path::Path;

use serde_json::json;

use super::config::{FilterOp, Identifier, SqlStreamConfig, TableName};
use super::decode::pg_numeric_text;
use super::query::{page_query, to_param, ColumnKind, Dialect, PageStart, Param, Pass};
use crate::connectors::ConnectorDefinition;

fn ident(name: &str) -> Identifier {
    Identifier::parse(name).unwrap()
}

fn stream(incremental: Option<&str>) -> SqlStreamConfig {
    SqlStreamConfig {
        table: TableName::parse("erp.customers").unwrap(),
        columns: Some(vec![ident("name")]),
        primary_key: ident("id"),
        incremental_column: incremental.map(ident),
        page_size: 1000,
        filters: Vec::new(),
        lookback_seconds: None,
    }
}

#[test]
fn identifiers_are_validated() {
    for good in ["customers", "_x", "Updated_At2", "a"] {
        assert!(Identifier::parse(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "1abc",
        "customers; DROP TABLE x",
        "a b",
        "a\"b",
        "a`b",
        "名字",
        "a.b",
        "a-b",
        &"x".repeat(65),
    ] {
        assert!(Identifier::parse(bad).is_err(), "{bad}");
    }
    assert!(TableName::parse("erp.customers").is_ok());
    for bad in [
        "erp.",
        ".customers",
        "a.b.c",
        "customers; DROP TABLE x",
        "x\".y",
    ] {
        assert!(TableName::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn identifiers_are_quoted_per_dialect() {
    let table = TableName::parse("erp.customers").unwrap();
    assert_eq!(
        Dialect::Postgres.quote_table(&table),
        "\"erp\".\"customers\""
    );
    assert_eq!(Dialect::Sqlite.quote(&ident("id")), "\"id\"");
    assert_eq!(Dialect::MySql.quote_table(&table), "`erp`.`customers`");
    assert_eq!(
        Dialect::MySql.quote_table(&TableName::parse("t").unwrap()),
        "`t`"
    );
}

#[test]
fn pages_use_the_keyset_and_bind_every_value() {
    let mut config = stream(Some("updated_at"));
    config.filters = Vec::new();
    let filters = vec![
        (
            ident("status"),
            FilterOp::Eq,
            vec![Param::Text("' OR 1=1 --".into())],
        ),
        (
            ident("level"),
            FilterOp::In,
            vec![Param::Int(1), Param::Int(2)],
        ),
    ];
    let start = PageStart::After {
        incremental: Param::Text("2024-01-01".into()),
        pk: Param::Int(7),
    };
    let query = page_query(
        Dialect::Postgres,
        &config,
        &filters,
        Pass::Main,
        &start,
        500,
    );
    assert_eq!(
        query.sql,
        "SELECT \"name\", \"id\", \"updated_at\" FROM \"erp\".\"customers\" \
         WHERE \"status\" = $1 AND \"level\" IN ($2, $3) AND \"updated_at\" IS NOT NULL \
         AND (\"updated_at\", \"id\") > ($4, $5) \
         ORDER BY \"updated_at\", \"id\" LIMIT $6"
    );
    assert_eq!(query.params.len(), 6);
    assert!(!query.sql.contains("OR 1=1"));

    let query = page_query(Dialect::MySql, &config, &filters, Pass::Main, &start, 500);
    assert!(query.sql.starts_with(
        "SELECT `name`, `id`, `updated_at` FROM `erp`.`customers` WHERE `status` = ?"
    ));
    assert!(query.sql.ends_with(
        "AND `updated_at` >= ? AND (`updated_at` > ? OR `id` > ?) \
         ORDER BY `updated_at`, `id` LIMIT ?"
    ));
    assert_eq!(query.params.len(), 7);

    let query = page_query(Dialect::Sqlite, &config, &[], Pass::Main, &start, 500);
    assert!(
        query.sql.ends_with(
            "WHERE \"updated_at\" IS NOT NULL AND (\"updated_at\", \"id\") > (?, ?) \
             ORDER BY \"updated_at\", \"id\" LIMIT ?"
        ),
        "{}",
        query.sql
    );

    let nulls = page_query(
        Dialect::Sqlite,
        &config,
        &[],
        Pass::NullIncremental,
        &PageStart::PkAfter(Param::Int(3)),
        10,
    );
    assert_eq!(
        nulls.sql,
        "SELECT \"name\", \"id\", \"updated_at\" FROM \"erp\".\"customers\" \
         WHERE \"updated_at\" IS NULL AND \"id\" > ? ORDER BY \"id\" LIMIT ?"
    );

    let sweep = page_query(
        Dialect::Postgres,
        &stream(None),
        &[],
        Pass::Main,
        &PageStart::Beginning,
        10,
    );
    assert_eq!(
        sweep.sql,
        "SELECT \"name\", \"id\" FROM \"erp\".\"customers\" ORDER BY \"id\" LIMIT $1"
    );
}

#[test]
fn numeric_parameters_are_cast_from_text() {
    let param = to_param(&json!("12.50"), &ColumnKind::Numeric).unwrap();
    let filters = vec![(ident("amount"), FilterOp::Ge, vec![param])];
    let config = stream(None);
    let pg = page_query(
        Dialect::Postgres,
        &config,
        &filters,
        Pass::Main,
        &PageStart::Beginning,
        1,
    );
    assert!(
        pg.sql.contains("\"amount\" >= CAST($1 AS NUMERIC)"),
        "{}",
        pg.sql
    );
    let my = page_query(
        Dialect::MySql,
        &config,
        &filters,
        Pass::Main,
        &PageStart::Beginning,
        1,
    );
    assert!(
        my.sql.contains("`amount` >= CAST(? AS DECIMAL(65, 30))"),
        "{}",
        my.sql
    );
    assert!(to_param(&json!("1; DROP"), &ColumnKind::Numeric).is_err());
}

#[test]
fn values_are_converted_to_the_column_kind() {
    use chrono::{NaiveDate, TimeZone, Utc};
    assert_eq!(to_param(&json!("42"), &ColumnKind::Int), Ok(Param::Int(42)));
    assert!(to_param(&json!("x"), &ColumnKind::Int).is_err());
    assert_eq!(
        to_param(
            &json!("2024-05-01T08:00:00+08:00"),
            &ColumnKind::Timestamptz
        ),
        Ok(Param::Timestamptz(
            Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap()
        ))
    );
    assert_eq!(
        to_param(&json!("2024-05-01 10:00:00"), &ColumnKind::Timestamp),
        Ok(Param::Timestamp(
            NaiveDate::from_ymd_opt(2024, 5, 1)
                .unwrap()
                .and_hms_opt(10, 0, 0)
                .unwrap()
        ))
    );
    assert_eq!(
        to_param(&json!("2024-05-01"), &ColumnKind::Date),
        Ok(Param::Date(NaiveDate::from_ymd_opt(2024, 5, 1).unwrap()))
    );
    assert_eq!(
        to_param(&json!(7), &ColumnKind::Text),
        Ok(Param::Text("7".into()))
    );
    assert_eq!(
        to_param(&json!(true), &ColumnKind::Dynamic),
        Ok(Param::Int(1))
    );
    assert_eq!(
        to_param(&json!("true"), &ColumnKind::Bool),
        Ok(Param::Bool(true))
    );
    assert_eq!(
        ColumnKind::from_type_name(Dialect::MySql, "DATETIME"),
        ColumnKind::Timestamp
    );
    assert_eq!(
        ColumnKind::from_type_name(Dialect::Postgres, "TIMESTAMPTZ"),
        ColumnKind::Timestamptz
    );
}

#[test]
fn postgres_numeric_binary_form_becomes_exact_text() {
    fn numeric(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[u16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for part in [ndigits, weight as u16, sign, dscale] {
            bytes.extend_from_slice(&part.to_be_bytes());
        }
        for digit in digits {
            bytes.extend_from_slice(&digit.to_be_bytes());
        }
        bytes
    }
    // 1234.50 as numeric(12,2): digits 1234 | 5000, weight 0.
    assert_eq!(
        pg_numeric_text(&numeric(2, 0, 0, 2, &[1234, 5000])).unwrap(),
        "1234.50"
    );
    // -12345678.9: 1234 5678 | 9000, weight 1.
    assert_eq!(
        pg_numeric_text(&numeric(3, 1, 0x4000, 1, &[1234, 5678, 9000])).unwrap(),
        "-12345678.9"
    );
    // 0.0005: weight -1, digit 5 → 0.0005.
    assert_eq!(
        pg_numeric_text(&numeric(1, -1, 0, 4, &[5])).unwrap(),
        "0.0005"
    );
    // 0.00000001: weight -2, digit 1.
    assert_eq!(
        pg_numeric_text(&numeric(1, -2, 0, 8, &[1])).unwrap(),
        "0.00000001"
    );
    // 10000 (weight 1, trailing zero group omitted), scale 0.
    assert_eq!(
        pg_numeric_text(&numeric(1, 1, 0, 0, &[1])).unwrap(),
        "10000"
    );
    assert_eq!(pg_numeric_text(&numeric(0, 0, 0, 2, &[])).unwrap(), "0.00");
    assert_eq!(
        pg_numeric_text(&numeric(0, 0, 0xC000, 0, &[])).unwrap(),
        "NaN"
    );
    assert!(pg_numeric_text(&[0, 1]).is_err());
}

fn build(text: &str) -> Result<(), Vec<crate::config::Problem>> {
    let table: toml::Table = text.parse().unwrap();
    let definition = ConnectorDefinition {
        id: "erp",
        file: Path::new("connectors/erp.toml"),
        base_dir: Path::new("."),
        table,
    };
    super::build(&definition).map(|_| ())
}

fn fields(problems: Vec<crate::config::Problem>) -> Vec<String> {
    problems.into_iter().map(|problem| problem.field).collect()
}

#[test]
fn config_problems_name_the_field() {
    assert!(build(
        r#"
        url = "sqlite://erp.db"
        [streams.customers]
        table = "customers"
        primary_key = "id"
        incremental_column = "updated_at"
        filters = [{ column = "status", op = "in", value = ["a", "b"] }]
        "#
    )
    .is_ok());

    let problems = build(
        r#"
        url = "sqlite://erp.db"
        [streams.customers]
        table = "customers; DROP TABLE x"
        primary_key = "id"
        [streams.orders]
        table = "orders"
        primary_key = "id"
        where = "1=1"
        page_size = 0
        [streams.items]
        table = "items"
        primary_key = "id"
        columns = ["id", "x y"]
        [streams.tags]
        table = "tags"
        primary_key = "id"
        filters = [{ column = "a", op = "in", value = "x" }, { column = "b", op = "like", value = "x" }]
        "#,
    )
    .unwrap_err();
    assert_eq!(
        fields(problems.clone()),
        vec![
            "streams.customers.table",
            "streams.items.columns",
            "streams.orders.where",
            "streams.orders.page_size",
            "streams.tags.filters[1].op",
        ]
    );
    assert!(problems[0].message.contains("customers; DROP TABLE x"));
    assert_eq!(problems[0].file, Path::new("connectors/erp.toml"));
}

#[test]
fn passwords_must_not_be_written_in_the_file() {
    let problems = build(
        r#"
        url = "postgres://erp:hunter22@db/erp"
        [streams.customers]
        table = "customers"
        primary_key = "id"
        "#,
    )
    .unwrap_err();
    assert_eq!(fields(problems.clone()), vec!["url"]);
    assert!(!format!("{problems:?}").contains("hunter22"));

    std::env::set_var("TIERLINK_UNIT_SQL_URL", "mysql://erp:hunter22@db/erp");
    std::env::set_var("TIERLINK_UNIT_SQL_PASSWORD", "hunter22");
    let source = super::build(&ConnectorDefinition {
        id: "erp",
        file: Path::new("connectors/erp.toml"),
        base_dir: Path::new("."),
        table: r#"
            url = "${TIERLINK_UNIT_SQL_URL}"
            [streams.customers]
            table = "customers"
            primary_key = "id"
            "#
        .parse()
        .unwrap(),
    })
    .unwrap();
    assert!(!format!("{source:?}").contains("hunter22"));
    assert!(build(
        r#"
        url = "mysql://erp@db/erp"
        password = "${TIERLINK_UNIT_SQL_PASSWORD}"
        [streams.customers]
        table = "customers"
        primary_key = "id"
        "#
    )
    .is_ok());
    let problems = build(
        r#"
        url = "mysql://erp@db/erp"
        password = "hunter22"
        [streams.customers]
        table = "customers"
        primary_key = "id"
        "#,
    )
    .unwrap_err();
    assert_eq!(fields(problems.clone()), vec!["password"]);
    assert!(!format!("{problems:?}").contains("hunter22"));
}
