use super::*;
use proptest::prelude::*;
use serde_json::{json, Value};

const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const CORE_USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

// ---- compact AST constructors ----

fn a(attr: &str) -> AttrPath {
    AttrPath::new(attr)
}
fn s(attr: &str, sub: &str) -> AttrPath {
    AttrPath::with_sub(attr, sub)
}
fn u(schema: &str, attr: &str, sub: Option<&str>) -> AttrPath {
    AttrPath {
        schema: Some(schema.to_string()),
        attr: attr.to_string(),
        sub_attr: sub.map(str::to_string),
    }
}
fn c(path: AttrPath, op: CompareOp, v: Value) -> Filter {
    Filter::Compare(path, op, v)
}
fn eq(path: AttrPath, v: Value) -> Filter {
    c(path, CompareOp::Eq, v)
}
fn pr(path: AttrPath) -> Filter {
    Filter::Present(path)
}
fn and(l: Filter, r: Filter) -> Filter {
    Filter::And(Box::new(l), Box::new(r))
}
fn or(l: Filter, r: Filter) -> Filter {
    Filter::Or(Box::new(l), Box::new(r))
}
fn not(f: Filter) -> Filter {
    Filter::Not(Box::new(f))
}
fn vp(path: AttrPath, f: Filter) -> Filter {
    Filter::ValuePath(path, Box::new(f))
}

#[test]
fn valid_filters_parse_to_expected_ast() {
    use CompareOp::*;
    let ent_number = format!(r#"{ENTERPRISE}:employeeNumber eq "701984""#);
    let ent_manager = format!(r#"{ENTERPRISE}:manager.value eq "26118915""#);
    let core_name = format!(r#"{CORE_USER}:name.givenName sw "Bar""#);
    let cases: Vec<(&str, Filter)> = vec![
        (
            r#"userName eq "bjensen""#,
            eq(a("userName"), json!("bjensen")),
        ),
        (r#"USERNAME EQ "x""#, eq(a("USERNAME"), json!("x"))),
        (r#"username Eq "x""#, eq(a("username"), json!("x"))),
        (
            r#"name.familyName co "O'Malley""#,
            c(s("name", "familyName"), Co, json!("O'Malley")),
        ),
        (r#"userName sw "J""#, c(a("userName"), Sw, json!("J"))),
        (r#"userName ew "son""#, c(a("userName"), Ew, json!("son"))),
        (r#"title ne "boss""#, c(a("title"), Ne, json!("boss"))),
        ("title pr", pr(a("title"))),
        ("title PR", pr(a("title"))),
        (
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            c(s("meta", "lastModified"), Gt, json!("2011-05-13T04:42:34Z")),
        ),
        (
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            c(s("meta", "lastModified"), Ge, json!("2011-05-13T04:42:34Z")),
        ),
        ("loginCount lt 10", c(a("loginCount"), Lt, json!(10))),
        (
            "loginCount le -2.5e3",
            c(a("loginCount"), Le, json!(-2500.0)),
        ),
        ("weight gt 0.25", c(a("weight"), Gt, json!(0.25))),
        ("active eq true", eq(a("active"), json!(true))),
        ("active eq FALSE", eq(a("active"), json!(false))),
        ("title eq null", eq(a("title"), Value::Null)),
        ("title ne Null", c(a("title"), Ne, Value::Null)),
        (
            r#"displayName eq "say \"hi\" \\ bye""#,
            eq(a("displayName"), json!("say \"hi\" \\ bye")),
        ),
        (
            r#"name.givenName eq "Ren\u00e9e""#,
            eq(s("name", "givenName"), json!("Renée")),
        ),
        (
            r#"name.givenName eq "\ud83d\ude00 \n\t\/""#,
            eq(s("name", "givenName"), json!("😀 \n\t/")),
        ),
        (
            r#"name.givenName eq "Zoë 日本""#,
            eq(s("name", "givenName"), json!("Zoë 日本")),
        ),
        (r#"userName eq """#, eq(a("userName"), json!(""))),
        (
            r#"a eq 1 or b eq 2 and c eq 3"#,
            or(
                eq(a("a"), json!(1)),
                and(eq(a("b"), json!(2)), eq(a("c"), json!(3))),
            ),
        ),
        (
            r#"a eq 1 and b eq 2 or c eq 3"#,
            or(
                and(eq(a("a"), json!(1)), eq(a("b"), json!(2))),
                eq(a("c"), json!(3)),
            ),
        ),
        (
            r#"(a eq 1 or b eq 2) and c eq 3"#,
            and(
                or(eq(a("a"), json!(1)), eq(a("b"), json!(2))),
                eq(a("c"), json!(3)),
            ),
        ),
        (
            "a pr or b pr or c pr",
            or(or(pr(a("a")), pr(a("b"))), pr(a("c"))),
        ),
        (
            "a pr AND b pr And c pr",
            and(and(pr(a("a")), pr(a("b"))), pr(a("c"))),
        ),
        (
            r#"userType eq "Employee" and not (emails.value co "example.org")"#,
            and(
                eq(a("userType"), json!("Employee")),
                not(c(s("emails", "value"), Co, json!("example.org"))),
            ),
        ),
        ("NOT(a pr)", not(pr(a("a")))),
        ("not ( not (a pr) )", not(not(pr(a("a"))))),
        ("((((a pr))))", pr(a("a"))),
        (
            r#"emails[type eq "work" and value co "@example.com"]"#,
            vp(
                a("emails"),
                and(
                    eq(a("type"), json!("work")),
                    c(a("value"), Co, json!("@example.com")),
                ),
            ),
        ),
        (
            r#"emails[type eq "work" or type eq "home"] and userName sw "b""#,
            and(
                vp(
                    a("emails"),
                    or(eq(a("type"), json!("work")), eq(a("type"), json!("home"))),
                ),
                c(a("userName"), Sw, json!("b")),
            ),
        ),
        (
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            and(
                eq(a("userType"), json!("Employee")),
                or(
                    c(a("emails"), Co, json!("example.com")),
                    c(s("emails", "value"), Co, json!("example.org")),
                ),
            ),
        ),
        (
            r#"emails[not (type eq "home")] or x pr"#,
            or(
                vp(a("emails"), not(eq(a("type"), json!("home")))),
                pr(a("x")),
            ),
        ),
        (
            &ent_number,
            eq(u(ENTERPRISE, "employeeNumber", None), json!("701984")),
        ),
        (
            &ent_manager,
            eq(u(ENTERPRISE, "manager", Some("value")), json!("26118915")),
        ),
        (
            &core_name,
            c(u(CORE_USER, "name", Some("givenName")), Sw, json!("Bar")),
        ),
        (
            r#"members.$ref eq "https://x/Users/1""#,
            eq(s("members", "$ref"), json!("https://x/Users/1")),
        ),
        (
            r#"members[value eq "2819c223"]"#,
            vp(a("members"), eq(a("value"), json!("2819c223"))),
        ),
        ("  \tx-y_z1 pr \n", pr(a("x-y_z1"))),
        (r#"userName eq"x""#, eq(a("userName"), json!("x"))),
        (
            "id eq 9223372036854775807",
            eq(a("id"), json!(9223372036854775807i64)),
        ),
        ("id eq 0", eq(a("id"), json!(0))),
    ];
    assert!(cases.len() >= 40, "{}", cases.len());
    for (input, expected) in cases {
        match parse_filter(input) {
            Ok(got) => assert_eq!(got, expected, "input: {input}"),
            Err(e) => panic!("{input}: unexpected error {e}"),
        }
    }
}

#[test]
fn invalid_filters_report_what_and_where() {
    let urn_without_attr = format!(r#"{ENTERPRISE}: eq "a""#);
    let cases: &[(&str, &str)] = &[
        ("", "the filter is empty"),
        ("   ", "the filter is empty"),
        ("USERNAME", "expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after `USERNAME` at 8"),
        ("userName ", "expected a comparison operator"),
        (r#"userName "x""#, "expected a comparison operator (eq, ne, co, sw, ew, gt, ge, lt, le or pr) after `userName` at 9, found `\"`"),
        (r#"userName equals "x""#, "unknown operator `equals` after `userName` at 9"),
        ("userName eq", "missing value after `eq` at 11"),
        ("userName eq ", "missing value after `eq` at 12"),
        (r#"userName eq "abc"#, "unterminated string starting at 12"),
        (r#"userName eq "abc\"#, "unterminated string starting at 12"),
        (r#"userName eq "x" extra"#, "unexpected `extra` at 16; expected `and`, `or` or the end of the filter"),
        (r#"(userName eq "x""#, "missing `)` for the `(` at 0"),
        (r#"userName eq "x")"#, "unexpected `)` at 15 without a matching `(`"),
        (r#"(userName eq "x" extra)"#, "expected `and`, `or` or the `)` closing the `(` at 0"),
        ("()", "empty parentheses at 0"),
        (r#"emails[type[value eq "x"] eq "y"]"#, "nested `[` at 11"),
        (r#"emails[type eq "work""#, "missing `]` for the `[` at 6"),
        ("emails[]", "empty value filter `[]` at 6"),
        (r#"emails[type eq "work"].value eq "x""#, "sub-attribute after `]` is only allowed in a PATCH path"),
        ("active gt true", "`gt` cannot be used with true"),
        ("active le null", "`le` cannot be used with null"),
        ("active co false", "`co` cannot be used with false"),
        ("loginCount sw 12", "`sw` cannot be used with a number"),
        (r#"not userName eq "x""#, "expected `(` after `not` at 4"),
        (r#"userName eq 'x'"#, "string values must be in double quotes"),
        ("userName eq bjensen", "expected a value (a double-quoted string, a number, true, false or null) after `eq` at 12, found `bjensen`"),
        (r#"userName eq "x" and"#, "expected a filter expression after `and` at 16"),
        (r#"userName eq "x" or "#, "expected a filter expression after `or` at 16"),
        (r#"and eq "x" or"#, "after `or`"),
        (r#"userName eq "\q""#, "invalid escape `\\q` in string at 13"),
        (r#"userName eq "\u12""#, "invalid unicode escape at 13"),
        (r#"userName eq "\ud83d""#, "unpaired surrogate `\\uD83D` in string at 13"),
        ("n eq 01", "invalid number `01` at 5"),
        ("n eq 1.", "invalid number `1.` at 5"),
        ("n eq -", "invalid number `-` at 5"),
        ("n eq 1e", "invalid number `1e` at 5"),
        ("n eq 12abc", "invalid number `12abc` at 5"),
        ("n eq 1e999", "number `1e999` at 5 is out of range"),
        ("1abc eq 1", "invalid attribute name `1abc` at 0: names start with a letter"),
        (r#"name.given.x eq "a""#, "more than one sub-attribute"),
        (r#"name. eq "a""#, "expected a sub-attribute name after `name.` at 5"),
        (r#"foo:bar eq "a""#, "a `:` is only allowed in a schema URN prefix"),
        (&urn_without_attr, "expected an attribute name after the schema URN"),
        (r#"= "x""#, "expected an attribute name, `(` or `not` at 0, found `=`"),
        (r#"userName eq "x" ] "#, "unexpected `]` at 16 without a matching `[`"),
        (r#"na$me eq "a""#, "invalid character `$` in attribute name `na$me` at 2"),
        (r#"name.givenName[value eq "a"]"#, "a value filter cannot follow the sub-attribute path `name.givenName`"),
    ];
    assert!(cases.len() >= 20);
    for (input, want) in cases {
        match parse_filter(input) {
            Ok(f) => panic!("{input:?} parsed as {f:?}, expected error containing {want:?}"),
            Err(e) => assert!(
                e.message.contains(want),
                "{input:?}: error {:?} does not contain {want:?}",
                e.message
            ),
        }
    }
}

#[test]
fn error_positions_are_byte_offsets() {
    let e = parse_filter(r#"userName equals "x""#).unwrap_err();
    assert_eq!(e.position, 9);
    let e = parse_filter("USERNAME").unwrap_err();
    assert_eq!(e.position, 8);
    assert_eq!(e.to_string(), e.message);
    let e = parse_filter(r#"userName eq "x" extra"#).unwrap_err();
    assert_eq!(e.position, 16);
}

#[test]
fn nesting_and_length_are_bounded() {
    let ok = format!("{}a pr{}", "(".repeat(MAX_NESTING), ")".repeat(MAX_NESTING));
    assert_eq!(parse_filter(&ok).unwrap(), pr(a("a")));
    let deep = format!(
        "{}a pr{}",
        "(".repeat(MAX_NESTING + 1),
        ")".repeat(MAX_NESTING + 1)
    );
    let e = parse_filter(&deep).unwrap_err();
    assert!(e.message.contains("filter nests too deeply"), "{e}");
    let nots = format!("{}a pr{}", "not (".repeat(100), ")".repeat(100));
    assert!(parse_filter(&nots)
        .unwrap_err()
        .message
        .contains("nests too deeply"));
    let opens = "(".repeat(100_000);
    assert!(parse_filter(&opens)
        .unwrap_err()
        .message
        .contains("nests too deeply"));

    // The longest accepted chain still evaluates, displays and drops fine.
    let chain = vec!["a pr"; MAX_CLAUSES].join(" and ");
    let f = parse_filter(&chain).unwrap();
    assert!(matches(&f, &json!({"a": 1}), &|_| false).unwrap());
    assert_eq!(parse_filter(&f.to_string()).unwrap(), f);
    let too_long = vec!["a pr"; MAX_CLAUSES + 1].join(" or ");
    assert!(parse_filter(&too_long)
        .unwrap_err()
        .message
        .contains("too long"));
}

#[test]
fn patch_paths() {
    let ok: Vec<(String, PatchPath)> = vec![
        (
            r#"members[value eq "abc"]"#.into(),
            PatchPath {
                attr: a("members"),
                filter: Some(eq(a("value"), json!("abc"))),
                sub_attr: None,
            },
        ),
        (
            r#"emails[type eq "work"].value"#.into(),
            PatchPath {
                attr: a("emails"),
                filter: Some(eq(a("type"), json!("work"))),
                sub_attr: Some("value".into()),
            },
        ),
        (
            r#"addresses[type eq "work"].postalCode"#.into(),
            PatchPath {
                attr: a("addresses"),
                filter: Some(eq(a("type"), json!("work"))),
                sub_attr: Some("postalCode".into()),
            },
        ),
        (
            r#"emails[type eq "work" and primary eq true]"#.into(),
            PatchPath {
                attr: a("emails"),
                filter: Some(and(
                    eq(a("type"), json!("work")),
                    eq(a("primary"), json!(true)),
                )),
                sub_attr: None,
            },
        ),
        (
            "name.givenName".into(),
            PatchPath {
                attr: s("name", "givenName"),
                filter: None,
                sub_attr: None,
            },
        ),
        (
            format!("{ENTERPRISE}:manager"),
            PatchPath {
                attr: u(ENTERPRISE, "manager", None),
                filter: None,
                sub_attr: None,
            },
        ),
        (
            format!("{ENTERPRISE}:manager.value"),
            PatchPath {
                attr: u(ENTERPRISE, "manager", Some("value")),
                filter: None,
                sub_attr: None,
            },
        ),
        (
            format!("{CORE_USER}:emails[type eq \"work\"].value"),
            PatchPath {
                attr: u(CORE_USER, "emails", None),
                filter: Some(eq(a("type"), json!("work"))),
                sub_attr: Some("value".into()),
            },
        ),
        (
            "active".into(),
            PatchPath {
                attr: a("active"),
                filter: None,
                sub_attr: None,
            },
        ),
        (
            " Active ".into(),
            PatchPath {
                attr: a("Active"),
                filter: None,
                sub_attr: None,
            },
        ),
        (
            "members.$ref".into(),
            PatchPath {
                attr: s("members", "$ref"),
                filter: None,
                sub_attr: None,
            },
        ),
    ];
    for (input, expected) in ok {
        let got = parse_path(&input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(got, expected, "{input}");
        assert_eq!(
            parse_path(&got.to_string()).unwrap(),
            got,
            "round trip of {input}"
        );
    }

    let bad: &[(&str, &str)] = &[
        ("", "the path is empty"),
        ("emails[", "missing `]` for the `[` at 6"),
        (r#"emails[type eq "work""#, "missing `]` for the `[` at 6"),
        (
            r#"emails[type eq "work"]."#,
            "expected a sub-attribute name after the `.` at 22",
        ),
        (
            r#"emails[type eq "work"].value.x"#,
            "unexpected `.x` at 28; expected the end of the path",
        ),
        (r#"emails[type eq "work"]x"#, "unexpected `x` at 22"),
        (r#"emails[type[value eq "a"] eq "b"]"#, "nested `[`"),
        ("name.givenName.x", "more than one sub-attribute"),
        (
            "emails eq",
            "unexpected `eq` at 7; expected the end of the path",
        ),
        (r#"emails[type eq]"#, "expected a value"),
        ("[x]", "expected an attribute name at 0, found `[`"),
        (
            r#"emails[type eq "work"].1x"#,
            "invalid attribute name `1x` at 23",
        ),
    ];
    for (input, want) in bad {
        match parse_path(input) {
            Ok(p) => panic!("{input:?} parsed as {p:?}"),
            Err(e) => assert!(
                e.message.contains(want),
                "{input:?}: {:?} lacks {want:?}",
                e.message
            ),
        }
    }
}

fn user() -> Value {
    json!({
        "schemas": [CORE_USER, ENTERPRISE],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "Bjensen-EXT",
        "userName": "BJensen@Example.com",
        "displayName": "Barbara Jensen",
        "nickName": "",
        "title": null,
        "name": {"givenName": "Barbara", "familyName": "Jensen", "formatted": "Ms. Barbara J Jensen III"},
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [],
        "roles": [""],
        "groups": [{"value": "g1", "display": "Admins"}],
        "entitlements": ["read", "Write"],
        "active": true,
        "loginCount": 42,
        "score": 2.5,
        ENTERPRISE: {
            "employeeNumber": "701984",
            "costCenter": "4130",
            "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d", "displayName": "John Smith"}
        },
        "meta": {
            "resourceType": "User",
            "created": "2010-01-23T04:56:22Z",
            "lastModified": "2011-05-13T04:42:34Z",
            "version": "W/\"3694e05e9dff590\""
        }
    })
}

fn rfc_case_exact(path: &AttrPath) -> bool {
    (matches!(path.attr.to_ascii_lowercase().as_str(), "id" | "externalid")
        && path.sub_attr.is_none())
        || (path.attr.eq_ignore_ascii_case("meta") && path.sub_attr.as_deref() == Some("version"))
}

fn eval(filter: &str) -> Result<bool, FilterError> {
    let f = parse_filter(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    matches(&f, &user(), &rfc_case_exact)
}

#[test]
fn evaluation_against_a_user() {
    let cases: Vec<(String, bool)> = vec![
        // case-insensitive attribute names and values
        (r#"userName eq "bjensen@example.com""#.into(), true),
        (r#"USERNAME eq "BJENSEN@EXAMPLE.COM""#.into(), true),
        (r#"username ne "bjensen@example.com""#.into(), false),
        (r#"userName ne "someone@else""#.into(), true),
        // caseExact attributes
        (r#"externalId eq "Bjensen-EXT""#.into(), true),
        (r#"externalId eq "bjensen-ext""#.into(), false),
        (
            r#"id eq "2819C223-7F76-453A-919D-413861904646""#.into(),
            false,
        ),
        // substring operators
        (r#"displayName co "BARA j""#.into(), true),
        (r#"displayName sw "barb""#.into(), true),
        (r#"displayName ew "JENSEN""#.into(), true),
        (r#"displayName sw "jensen""#.into(), false),
        (r#"externalId co "ext""#.into(), false),
        // sub-attributes of singular complex attributes
        (r#"name.givenName eq "barbara""#.into(), true),
        (r#"Name.GivenName sw "B""#.into(), true),
        // presence
        ("nickName pr".into(), false),
        ("phoneNumbers pr".into(), false),
        ("roles pr".into(), false),
        ("title pr".into(), false),
        ("addresses pr".into(), false),
        ("emails pr".into(), true),
        ("name pr".into(), true),
        ("active pr".into(), true),
        ("emails.type pr".into(), true),
        ("groups.display pr".into(), true),
        // dates and numbers
        (
            r#"meta.lastModified gt "2011-05-13T04:42:33Z""#.into(),
            true,
        ),
        (
            r#"meta.lastModified gt "2011-05-13T06:42:33+02:00""#.into(),
            true,
        ),
        (
            r#"meta.lastModified lt "2011-05-13T06:42:33+02:00""#.into(),
            false,
        ),
        (
            r#"meta.lastModified ge "2011-05-13T04:42:34.000Z""#.into(),
            true,
        ),
        (
            r#"meta.lastModified eq "2011-05-13T04:42:34.000Z""#.into(),
            true,
        ),
        (
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#.into(),
            true,
        ),
        (r#"meta.created lt "2011-01-01T00:00:00Z""#.into(), true),
        ("loginCount gt 41".into(), true),
        ("loginCount ge 42".into(), true),
        ("loginCount lt 42".into(), false),
        ("loginCount le 42.0".into(), true),
        ("loginCount eq 42.0".into(), true),
        ("score gt 2".into(), true),
        ("score lt -1".into(), false),
        ("loginCount gt \"41\"".into(), false),
        // lexicographic strings
        (r#"name.familyName gt "jameson""#.into(), true),
        (r#"name.familyName lt "JOHNSON""#.into(), true),
        // booleans and null
        ("active eq true".into(), true),
        ("active eq TRUE".into(), true),
        ("active eq false".into(), false),
        ("active ne false".into(), true),
        (r#"active eq "true""#.into(), false),
        ("title eq null".into(), true),
        ("addresses eq null".into(), true),
        ("phoneNumbers eq null".into(), true),
        ("userName eq null".into(), false),
        ("userName ne null".into(), true),
        // multi-valued
        (r#"emails eq "BJENSEN@example.com""#.into(), true),
        (r#"emails.value eq "babs@jensen.org""#.into(), true),
        (r#"emails co "jensen.org""#.into(), true),
        (r#"emails.type eq "other""#.into(), false),
        (r#"emails.type ne "other""#.into(), true),
        (r#"entitlements eq "write""#.into(), true),
        (r#"groups eq "g1""#.into(), true),
        (
            r#"emails[type eq "work" and value co "@example.com"]"#.into(),
            true,
        ),
        (
            r#"emails[type eq "home" and value co "@example.com"]"#.into(),
            false,
        ),
        (
            r#"emails[type eq "work"] and emails[type eq "home"]"#.into(),
            true,
        ),
        (r#"emails[primary eq true and type eq "work"]"#.into(), true),
        (
            r#"emails[primary eq true and type eq "home"]"#.into(),
            false,
        ),
        (r#"emails[not (type eq "work")]"#.into(), true),
        (r#"entitlements[value eq "READ"]"#.into(), true),
        (r#"phoneNumbers[type eq "work"]"#.into(), false),
        // not
        (r#"not (userName eq "bjensen@example.com")"#.into(), false),
        (
            r#"not (userName eq "nobody") and active eq true"#.into(),
            true,
        ),
        // enterprise extension and core URN
        (format!(r#"{ENTERPRISE}:employeeNumber eq "701984""#), true),
        (format!(r#"{ENTERPRISE}:EMPLOYEENUMBER eq "701984""#), true),
        (
            format!(r#"{ENTERPRISE}:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
            true,
        ),
        (
            format!(r#"{ENTERPRISE}:manager eq "26118915-6090-4610-87e4-49d8ca9f808d""#),
            true,
        ),
        (
            format!(r#"{ENTERPRISE}:manager.displayName sw "john""#),
            true,
        ),
        (format!(r#"{ENTERPRISE}:division pr"#), false),
        (
            format!(r#"{CORE_USER}:userName eq "bjensen@example.com""#),
            true,
        ),
        (format!(r#"{CORE_USER}:name.givenName eq "Barbara""#), true),
        (
            r#"urn:example:other:1.0:User:employeeNumber eq "701984""#.into(),
            false,
        ),
        // employeeNumber is not a core attribute
        (r#"employeeNumber eq "701984""#.into(), false),
        // missing attributes
        (r#"nothing eq "x""#.into(), false),
        (r#"nothing co "x""#.into(), false),
        (r#"nothing gt "x""#.into(), false),
        (r#"nothing ne "x""#.into(), true),
        (r#"name.middleName eq "x""#.into(), false),
        (r#"name.middleName ne "x""#.into(), true),
        // precedence
        (
            r#"userName eq "nobody" or active eq true and loginCount gt 1"#.into(),
            true,
        ),
        (
            r#"(userName eq "nobody" or active eq true) and loginCount gt 100"#.into(),
            false,
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(eval(&filter), Ok(want), "{filter}");
    }
}

#[test]
fn evaluation_errors() {
    for filter in [
        r#"active gt "a""#,
        r#"active co "t""#,
        r#"active ew "e""#,
        r#"emails.primary lt "x""#,
        // errors surface even when the other side decides the outcome
        r#"userName eq "nobody" and active ge "x""#,
    ] {
        let e = eval(filter).unwrap_err();
        assert!(e.message.contains("boolean attribute"), "{filter}: {e}");
    }
    // Hand-built trees that the parser would reject are errors too.
    let f = c(a("active"), CompareOp::Gt, json!(true));
    assert!(matches(&f, &user(), &|_| false).is_err());
    let f = c(a("userName"), CompareOp::Co, json!(1));
    assert!(matches(&f, &user(), &|_| false).is_err());
}

#[test]
fn case_exact_sees_value_path_context() {
    let seen = std::cell::RefCell::new(Vec::new());
    let f = parse_filter(r#"emails[value eq "X"] and name.givenName eq "y""#).unwrap();
    let record = |p: &AttrPath| {
        seen.borrow_mut().push(p.to_string());
        false
    };
    matches(&f, &user(), &record).unwrap();
    let seen = seen.into_inner();
    assert!(seen.contains(&"emails.value".to_string()), "{seen:?}");
    assert!(seen.contains(&"name.givenName".to_string()), "{seen:?}");

    // With emails.value caseExact the comparison becomes case-sensitive.
    let exact = |p: &AttrPath| p.to_string() == "emails.value";
    let f = parse_filter(r#"emails[value eq "BJENSEN@example.com"]"#).unwrap();
    assert!(!matches(&f, &user(), &exact).unwrap());
    assert!(matches(&f, &user(), &|_| false).unwrap());
}

#[test]
fn group_members() {
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "e9e30dba",
        "displayName": "Tour Guides",
        "members": [
            {"value": "2819c223", "$ref": "https://example.com/v2/Users/2819c223", "display": "Babs"},
            {"value": "902c246b", "$ref": "https://example.com/v2/Users/902c246b"}
        ]
    });
    let yes = |f: &str| matches(&parse_filter(f).unwrap(), &group, &|_| false).unwrap();
    assert!(yes(r#"members[value eq "902c246b"]"#));
    assert!(yes(r#"members eq "2819c223""#));
    assert!(yes(r#"members.$ref ew "/902c246b""#));
    assert!(!yes(r#"members[value eq "nope"]"#));
    assert!(yes(
        r#"displayName eq "tour guides" and members[value eq "2819c223"]"#
    ));
    assert!(yes(
        r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName sw "Tour""#
    ));
}

#[test]
fn display_is_canonical() {
    let f = parse_filter(
        r#"NOT (A EQ "x") AND (b pr OR c Gt 1) or emails[TYPE eq "w\"k" and value pr]"#,
    )
    .unwrap();
    assert_eq!(
        f.to_string(),
        r#"not (A eq "x") and (b pr or c gt 1) or emails[TYPE eq "w\"k" and value pr]"#
    );
    let right_nested = and(pr(a("a")), and(pr(a("b")), pr(a("c"))));
    assert_eq!(right_nested.to_string(), "a pr and (b pr and c pr)");
    let or_in_and = and(or(pr(a("a")), pr(a("b"))), pr(a("c")));
    assert_eq!(or_in_and.to_string(), "(a pr or b pr) and c pr");
    assert_eq!(
        u(ENTERPRISE, "manager", Some("value")).to_string(),
        format!("{ENTERPRISE}:manager.value")
    );
}

// ---- property tests ----

fn name_strategy() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,7}"
        .prop_filter("`not` is a keyword", |n| !n.eq_ignore_ascii_case("not"))
}

fn attr_path_strategy() -> impl Strategy<Value = AttrPath> {
    let schema = prop_oneof![
        4 => Just(None),
        1 => Just(Some(ENTERPRISE.to_string())),
        1 => Just(Some(CORE_USER.to_string())),
        1 => Just(Some("urn:example:params:1.0:Thing".to_string())),
    ];
    let sub = prop_oneof![
        2 => Just(None),
        1 => name_strategy().prop_map(Some),
        1 => Just(Some("$ref".to_string())),
    ];
    (schema, name_strategy(), sub).prop_map(|(schema, attr, sub_attr)| AttrPath {
        schema,
        attr,
        sub_attr,
    })
}

fn leaf_strategy() -> impl Strategy<Value = Filter> {
    let string = any::<String>().prop_map(Value::String);
    let number = prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |x| x.is_finite())
            .prop_map(Value::from),
    ];
    let any_value = prop_oneof![
        string.clone(),
        number.clone(),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ];
    let equality = prop_oneof![Just(CompareOp::Eq), Just(CompareOp::Ne)];
    let ordering = prop_oneof![
        Just(CompareOp::Gt),
        Just(CompareOp::Ge),
        Just(CompareOp::Lt),
        Just(CompareOp::Le)
    ];
    let substring = prop_oneof![
        Just(CompareOp::Co),
        Just(CompareOp::Sw),
        Just(CompareOp::Ew)
    ];
    prop_oneof![
        attr_path_strategy().prop_map(Filter::Present),
        (attr_path_strategy(), equality, any_value)
            .prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
        (
            attr_path_strategy(),
            ordering,
            prop_oneof![string.clone(), number]
        )
            .prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
        (attr_path_strategy(), substring, string).prop_map(|(p, op, v)| Filter::Compare(p, op, v)),
    ]
}

fn combine(inner: BoxedStrategy<Filter>) -> BoxedStrategy<Filter> {
    prop_oneof![
        (inner.clone(), inner.clone()).prop_map(|(l, r)| and(l, r)),
        (inner.clone(), inner.clone()).prop_map(|(l, r)| or(l, r)),
        inner.prop_map(not),
    ]
    .boxed()
}

/// Filters without value paths (what may appear inside `[...]`).
fn simple_filter_strategy() -> BoxedStrategy<Filter> {
    leaf_strategy().prop_recursive(4, 24, 2, combine).boxed()
}

fn filter_strategy() -> BoxedStrategy<Filter> {
    let value_path = (
        attr_path_strategy().prop_map(|mut p| {
            p.sub_attr = None;
            p
        }),
        simple_filter_strategy(),
    )
        .prop_map(|(p, f)| vp(p, f));
    prop_oneof![3 => leaf_strategy(), 1 => value_path]
        .prop_recursive(4, 32, 2, |inner| {
            prop_oneof![
                3 => combine(inner.clone()),
                1 => inner,
            ]
        })
        .boxed()
}

fn token_soup() -> impl Strategy<Value = String> {
    let token = prop::sample::select(vec![
        "userName",
        "emails",
        "name.givenName",
        "members.$ref",
        ".",
        ":",
        "urn:",
        "urn:a:b:",
        ENTERPRISE,
        "eq",
        "NE",
        "co",
        "sw",
        "ew",
        "gt",
        "ge",
        "lt",
        "le",
        "pr",
        "and",
        "or",
        "not",
        "(",
        ")",
        "[",
        "]",
        "\"",
        "\"x\"",
        "\"\\",
        "\\u",
        "\\ud83d",
        "\\u00e9",
        "1",
        "-",
        "-1.5e3",
        "0",
        "1e",
        "true",
        "FALSE",
        "null",
        " ",
        "\t",
        "é",
        "日",
        "'",
        "$",
        "\u{0}",
    ]);
    prop::collection::vec((token, any::<bool>()), 0..24).prop_map(|tokens| {
        tokens
            .into_iter()
            .map(|(t, space)| {
                if space {
                    format!("{t} ")
                } else {
                    t.to_string()
                }
            })
            .collect()
    })
}

proptest! {
    // PROPTEST_CASES=100000 for a longer fuzzing run.
    #![proptest_config(ProptestConfig::with_cases(
        std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512)
    ))]

    #[test]
    fn parse_never_panics_on_arbitrary_strings(input in any::<String>()) {
        let _ = parse_filter(&input);
        let _ = parse_path(&input);
    }

    #[test]
    fn parse_and_eval_never_panic_on_token_soup(input in token_soup()) {
        if let Ok(f) = parse_filter(&input) {
            let _ = matches(&f, &user(), &rfc_case_exact);
            // Whatever parses renders to something that parses to the same tree.
            prop_assert_eq!(parse_filter(&f.to_string()), Ok(f));
        }
        if let Ok(p) = parse_path(&input) {
            prop_assert_eq!(parse_path(&p.to_string()), Ok(p));
        }
    }

    #[test]
    fn errors_point_inside_the_input(input in token_soup()) {
        if let Err(e) = parse_filter(&input) {
            prop_assert!(e.position <= input.len(), "{:?} for {:?}", e, input);
        }
    }

    #[test]
    fn display_round_trips(f in filter_strategy()) {
        let text = f.to_string();
        match parse_filter(&text) {
            Ok(parsed) => prop_assert_eq!(&parsed, &f, "rendered: {}", text),
            Err(e) => prop_assert!(false, "{} failed to parse: {}", text, e),
        }
        let _ = matches(&f, &user(), &rfc_case_exact);
    }

    #[test]
    fn patch_path_display_round_trips(
        attr in attr_path_strategy(),
        filter in proptest::option::of(simple_filter_strategy()),
        sub in proptest::option::of(name_strategy()),
    ) {
        let path = match filter {
            Some(f) => PatchPath {
                attr: AttrPath { sub_attr: None, ..attr },
                filter: Some(f),
                sub_attr: sub,
            },
            None => PatchPath { attr, filter: None, sub_attr: None },
        };
        prop_assert_eq!(parse_path(&path.to_string()), Ok(path));
    }
}
