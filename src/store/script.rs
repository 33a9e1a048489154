//! Statements built with their values, run in one call where the engine
//! allows it (`Tx::run`, `Tx::fetch`).
//!
//! A group-committed batch on SQLite is bound by hand-offs, not by
//! SQLite's work: sqlx runs every statement on the connection's own thread
//! and wakes the caller after it, ≈ 0.1–0.3 ms a round on two busy cores,
//! and a batch of SCIM creates was ten of them. sqlx's SQLite driver runs a
//! query of several statements in one command on that thread, binding each
//! `$n` to the n-th value of the whole query; so a `Script` renders its
//! statements numbered one after another and sends them as one. A
//! PostgreSQL prepared statement holds one command: there each statement
//! goes on its own, numbered from `$1`.

use std::borrow::Cow;

use sqlx::any::AnyRow;

use super::{Backend, Tx};

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub(super) enum Value<'a> {
    Text(Option<Cow<'a, str>>),
    Int(i64),
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(s: &'a str) -> Self {
        Value::Text(Some(Cow::Borrowed(s)))
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(s: &'a String) -> Self {
        Value::Text(Some(Cow::Borrowed(s)))
    }
}

impl From<String> for Value<'_> {
    fn from(s: String) -> Self {
        Value::Text(Some(Cow::Owned(s)))
    }
}

impl<'a> From<Option<&'a str>> for Value<'a> {
    fn from(s: Option<&'a str>) -> Self {
        Value::Text(s.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Value<'a> {
    fn from(s: &'a Option<String>) -> Self {
        Value::Text(s.as_deref().map(Cow::Borrowed))
    }
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

enum Part {
    Sql(Cow<'static, str>),
    /// The statement's n-th value (from 0).
    Param(usize),
}

/// One statement: its SQL with a placeholder where each value goes.
#[derive(Default)]
pub(super) struct Statement<'a> {
    parts: Vec<Part>,
    values: Vec<Value<'a>>,
}

impl<'a> Statement<'a> {
    pub fn new(sql: impl Into<Cow<'static, str>>) -> Self {
        Statement::default().sql(sql)
    }

    pub fn sql(mut self, sql: impl Into<Cow<'static, str>>) -> Self {
        self.parts.push(Part::Sql(sql.into()));
        self
    }

    /// A placeholder here, bound to `value`.
    pub fn value(mut self, value: impl Into<Value<'a>>) -> Self {
        self.parts.push(Part::Param(self.values.len()));
        self.values.push(value.into());
        self
    }

    /// `v1, v2, …`: placeholders for `values`, comma-separated.
    pub fn list(mut self, values: impl IntoIterator<Item = impl Into<Value<'a>>>) -> Self {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self = self.sql(", ");
            }
            self = self.value(value);
        }
        self
    }

    /// `(v1, v2, …)`, after a comma unless it is the first row.
    pub fn row(self, first_row: bool, values: impl IntoIterator<Item = Value<'a>>) -> Self {
        self.sql(if first_row { "(" } else { ", (" })
            .list(values)
            .sql(")")
    }

    /// The SQL with its placeholders numbered from `$first`.
    fn render(&self, first: usize) -> String {
        let mut sql = String::new();
        for part in &self.parts {
            match part {
                Part::Sql(text) => sql.push_str(text),
                Part::Param(n) => sql.push_str(&format!("${}", first + n)),
            }
        }
        sql
    }
}

/// Statements that run one after another.
#[derive(Default)]
pub(super) struct Script<'a> {
    statements: Vec<Statement<'a>>,
}

impl<'a> Script<'a> {
    pub fn push(&mut self, statement: Statement<'a>) {
        self.statements.push(statement);
    }

    /// As one query (SQLite) or one query each (PostgreSQL), with the
    /// values to bind to it.
    fn queries(&self, backend: Backend) -> Vec<(String, Vec<&Value<'a>>)> {
        match backend {
            Backend::Sqlite => {
                let mut sql = Vec::with_capacity(self.statements.len());
                let mut values = Vec::new();
                for statement in &self.statements {
                    sql.push(statement.render(values.len() + 1));
                    values.extend(&statement.values);
                }
                vec![(sql.join(";\n"), values)]
            }
            Backend::Postgres => self
                .statements
                .iter()
                .map(|s| (s.render(1), s.values.iter().collect()))
                .collect(),
        }
    }
}

fn bound<'q>(
    sql: &'q str,
    values: &[&'q Value<'_>],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    values
        .iter()
        .fold(sqlx::query(sql), |query, value| match value {
            Value::Text(text) => query.bind(text.as_deref()),
            Value::Int(n) => query.bind(*n),
        })
}

impl Tx {
    /// Runs the script's statements in order; the first error stops it
    /// (what ran before stays, for the caller's savepoint to undo).
    pub(super) async fn run(&mut self, script: &Script<'_>) -> Result<(), sqlx::Error> {
        if script.statements.is_empty() {
            return Ok(());
        }
        for (sql, values) in script.queries(self.backend) {
            bound(&sql, &values).execute(&mut *self.inner).await?;
        }
        Ok(())
    }

    /// As `run`, and the rows the statements return, in order.
    pub(super) async fn fetch(&mut self, script: &Script<'_>) -> Result<Vec<AnyRow>, sqlx::Error> {
        let mut rows = Vec::new();
        for (sql, values) in script.queries(self.backend) {
            rows.extend(bound(&sql, &values).fetch_all(&mut *self.inner).await?);
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::test_store;
    use crate::store::users::push_users;
    use crate::store::{User, UserProfile};

    fn users(emails: &[&str]) -> Vec<User> {
        emails
            .iter()
            .map(|e| User::new(e, &UserProfile::default()))
            .collect()
    }

    async fn emails_stored(tx: &mut Tx, emails: &[&str]) -> usize {
        let mut script = Script::default();
        for email in emails {
            script.push(Statement::new("SELECT id FROM users WHERE email = ").value(*email));
        }
        tx.fetch(&script).await.unwrap().len()
    }

    /// On the engine the suite runs on (SQLite, or PostgreSQL when set):
    /// the statements run in order, each seeing the one before, and the
    /// rows of all of them come back in order.
    #[tokio::test]
    async fn statements_run_in_order_and_return_their_rows() {
        let t = test_store().await;
        let mut tx = t.store.write_tx().await.unwrap();
        let first = users(&["a@example.com", "b@example.com"]);
        let second = users(&["c@example.com"]);
        let mut script = Script::default();
        push_users(&mut script, &first, " RETURNING email");
        push_users(&mut script, &second, " RETURNING email");
        script.push(
            Statement::new("SELECT COUNT(*) FROM users WHERE email LIKE ").value("%@example.com"),
        );
        let rows = tx.fetch(&script).await.unwrap();
        use sqlx::Row;
        let emails: Vec<String> = rows[..3].iter().map(|r| r.try_get(0).unwrap()).collect();
        assert_eq!(emails, ["a@example.com", "b@example.com", "c@example.com"]);
        assert_eq!(rows[3].try_get::<i64, _>(0).unwrap(), 3);
        tx.commit().await.unwrap();
    }

    /// A statement that fails stops the script; what ran before it stays
    /// until the caller's savepoint undoes it, and the transaction goes on.
    #[tokio::test]
    async fn a_failing_statement_stops_the_script_and_its_savepoint_undoes_the_rest() {
        let t = test_store().await;
        let mut tx = t.store.write_tx().await.unwrap();
        let existing = users(&["taken@example.com"]);
        let mut script = Script::default();
        push_users(&mut script, &existing, "");
        tx.run(&script).await.unwrap();

        let savepoint = tx.savepoint("trial").await.unwrap();
        let fresh = users(&["new@example.com"]);
        let clash = users(&["TAKEN@example.com"]);
        let after = users(&["after@example.com"]);
        let mut script = Script::default();
        push_users(&mut script, &fresh, "");
        push_users(&mut script, &clash, "");
        push_users(&mut script, &after, "");
        assert!(tx.run(&script).await.is_err(), "the email is taken");
        tx.rollback_to(&savepoint).await.unwrap();
        let emails = ["new@example.com", "after@example.com"];
        assert_eq!(emails_stored(&mut tx, &emails).await, 0);
        assert_eq!(emails_stored(&mut tx, &["taken@example.com"]).await, 1);
        tx.commit().await.unwrap();
    }

    fn script() -> Script<'static> {
        let mut script = Script::default();
        script.push(
            Statement::new("UPDATE a SET n = n + ")
                .value(2)
                .sql(" WHERE k = ")
                .value("x"),
        );
        script.push(
            Statement::new("INSERT INTO b VALUES ")
                .row(true, [Value::from("p"), Value::from(1)])
                .row(false, [Value::from(None::<&str>), Value::from(2)]),
        );
        script
    }

    #[test]
    fn sqlite_numbers_the_statements_one_after_another_in_one_query() {
        let script = script();
        let queries = script.queries(Backend::Sqlite);
        assert_eq!(queries.len(), 1);
        assert_eq!(
            queries[0].0,
            "UPDATE a SET n = n + $1 WHERE k = $2;\nINSERT INTO b VALUES ($3, $4), ($5, $6)"
        );
        assert_eq!(queries[0].1.len(), 6);
    }

    #[test]
    fn postgres_numbers_each_statement_from_one() {
        let script = script();
        let queries = script.queries(Backend::Postgres);
        let sql: Vec<&str> = queries.iter().map(|(sql, _)| sql.as_str()).collect();
        assert_eq!(
            sql,
            [
                "UPDATE a SET n = n + $1 WHERE k = $2",
                "INSERT INTO b VALUES ($1, $2), ($3, $4)"
            ]
        );
        assert_eq!(queries[1].1.len(), 4);
    }
}
