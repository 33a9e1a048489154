//! The lifecycle event stream as a test reads it (`GET /api/v1/events`).

use serde_json::Value;

use super::Gateway;

/// Every event after `after` visible to `token`, walking the cursor with
/// pages of `limit`; returns them and the final cursor.
pub async fn walk(gw: &Gateway, token: &str, after: &str, limit: u32) -> (Vec<Value>, String) {
    let mut cursor = after.to_string();
    let mut events = Vec::new();
    loop {
        let (status, page) = gw
            .api(token)
            .get(&format!("/events?after={cursor}&limit={limit}"))
            .await;
        assert_eq!(status, 200, "{page}");
        let batch = page["events"].as_array().unwrap().clone();
        cursor = page["next_cursor"].as_str().unwrap().to_string();
        let done = batch.len() < limit as usize;
        events.extend(batch);
        if done {
            return (events, cursor);
        }
    }
}

/// The stream's end, to read only what a step adds.
pub async fn cursor(gw: &Gateway, token: &str) -> String {
    walk(gw, token, "evt_0000000000000000", 1000).await.1
}
