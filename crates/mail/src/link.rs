//! The shape of the links Usher emails. The pages they lead to are served by the server, which
//! builds its forms' actions with these same functions and checks its routes against them, so
//! a page can move only together with the links to it.

/// The path of an app's join page, the page an invitation email links to.
pub fn join_path(app_id: &str) -> String {
    page_path(app_id, "join")
}

/// The path of an app's password reset page, the page a reset email links to.
pub fn reset_password_path(app_id: &str) -> String {
    page_path(app_id, "reset-password")
}

/// The path of one of Usher's pages for an app.
fn page_path(app_id: &str, page: &str) -> String {
    format!("/apps/{app_id}/{page}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_paths_put_the_app_id_under_apps() {
        assert_eq!(join_path("a1"), "/apps/a1/join");
        assert_eq!(reset_password_path("a1"), "/apps/a1/reset-password");
    }
}
