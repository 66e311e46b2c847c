//! Small assertions shared by the API tests.

use serde_json::Value;

/// Asserts an error response's status and `code`, and returns its JSON body.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "status");
    let body: Value = response.json().await.expect("error body is JSON");
    assert_eq!(body["code"], code, "code in {body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "message in {body}");
    body
}

/// Asserts a `base44` SDK call failed with this status and code.
pub fn assert_api_error<T: std::fmt::Debug>(result: Result<T, base44::ClientError>, status: u16, code: &str) {
    match result {
        Err(base44::ClientError::Api { status: got, code: got_code, .. }) => {
            assert_eq!((got, got_code.as_str()), (status, code));
        }
        other => panic!("expected API error {status} {code}, got {other:?}"),
    }
}
