//! Opens of a join link, told apart into people and mail scanners. Security scanners
//! (Microsoft Defender Safe Links, Mimecast, Proofpoint, Barracuda…) fetch the links in a
//! message within seconds of its delivery, often with `HEAD`, and run no JavaScript. The join
//! page's script reports a person's view with a same-origin `POST` (the beacon); a fetch that
//! shows a scanner's signs is counted as a scanner's, and a page view stays one until its
//! beacon arrives. Nothing here touches the invitation's status or token.

use std::time::Duration;

use crate::clock::Timestamp;
use crate::id::{AppId, InvitationId};
use crate::model::{LinkOpens, LinkState, TokenLookup};

/// A fetch this soon after the email was delivered is a scanner's: people take longer to
/// open their mail and click.
pub const RIGHT_AFTER_DELIVERY: Duration = Duration::from_secs(5);

/// User-agent fragments (lowercase) of link scanners and link-preview fetchers.
const SCANNER_AGENTS: &[&str] = &[
    "safelinks",
    "microsoft office",
    "ms-office",
    "bingpreview",
    "mimecast",
    "proofpoint",
    "barracuda",
    "forcepoint",
    "symantec",
    "trendmicro",
    "sophos",
    "fireeye",
    "cisco",
    "ironport",
    "googleimageproxy",
    "python-requests",
    "curl/",
    "wget/",
    "go-http-client",
];

/// Which request touched the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkRequest {
    /// A `HEAD` of the join link: only automated clients send it.
    Head,
    /// A `GET` of the join page.
    PageView,
    /// The join page's script reporting that it ran.
    Beacon,
}

/// One request to a join link.
#[derive(Clone, Copy, Debug)]
pub struct LinkOpen<'a> {
    /// What it was.
    pub request: LinkRequest,
    /// Its `User-Agent`, if it sent one.
    pub user_agent: Option<&'a str>,
    /// When it came.
    pub at: Timestamp,
}

/// Why a request looked automated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScannerSign {
    /// It was a `HEAD`.
    Head,
    /// Its user agent is a known scanner's.
    ScannerAgent,
    /// It came within [`RIGHT_AFTER_DELIVERY`] of the email's delivery.
    RightAfterDelivery,
}

/// What a request to a join link says about who opened it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenVerdict {
    /// Automated, for this reason.
    Scanner(ScannerSign),
    /// A page view that a person's script has yet to confirm.
    Unconfirmed,
    /// A person's browser ran the page's script.
    Person,
}

/// Classifies `open` of a link whose email was delivered at `delivered_at` (if it was).
pub fn classify_open(open: &LinkOpen<'_>, delivered_at: Option<Timestamp>) -> OpenVerdict {
    if open.request == LinkRequest::Head {
        return OpenVerdict::Scanner(ScannerSign::Head);
    }
    if open.user_agent.is_some_and(is_scanner_agent) {
        return OpenVerdict::Scanner(ScannerSign::ScannerAgent);
    }
    if delivered_at.is_some_and(|sent| sent <= open.at && open.at < sent.plus(RIGHT_AFTER_DELIVERY)) {
        return OpenVerdict::Scanner(ScannerSign::RightAfterDelivery);
    }
    match open.request {
        LinkRequest::Beacon => OpenVerdict::Person,
        LinkRequest::PageView | LinkRequest::Head => OpenVerdict::Unconfirmed,
    }
}

fn is_scanner_agent(agent: &str) -> bool {
    let agent = agent.to_ascii_lowercase();
    SCANNER_AGENTS.iter().any(|fragment| agent.contains(fragment))
}

/// What to write for an open.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenPlan<'a> {
    /// Nothing: the link is not a live link of this app (opens of dead links are not kept).
    Ignore,
    /// Store these counts on the invitation (and nothing else).
    Record {
        /// The invitation.
        id: &'a InvitationId,
        /// Its opens, this one included.
        opens: LinkOpens,
    },
}

/// Records `open` of the link behind `lookup` (read in the writing transaction) under `app_id`.
pub fn record_open<'a>(lookup: Option<&'a TokenLookup>, app_id: &AppId, open: &LinkOpen<'_>) -> OpenPlan<'a> {
    let Some(lookup) = lookup.filter(|l| &l.invitation.app_id == app_id) else { return OpenPlan::Ignore };
    if lookup.state_at(open.at) != LinkState::Valid {
        return OpenPlan::Ignore;
    }
    let invitation = &lookup.invitation;
    let mut opens = invitation.opens.clone();
    match classify_open(open, invitation.delivery.sent_at) {
        OpenVerdict::Scanner(_) => opens.flagged_scanner_opens = opens.flagged_scanner_opens.saturating_add(1),
        OpenVerdict::Unconfirmed => opens.views_without_script = opens.views_without_script.saturating_add(1),
        OpenVerdict::Person => {
            // The view this beacon confirms was counted as unconfirmed when it was served.
            opens.views_without_script = opens.views_without_script.saturating_sub(1);
            opens.opened_by_person_at.get_or_insert(open.at);
        }
    }
    if open.request != LinkRequest::Beacon {
        opens.last_opened_at = Some(open.at);
    }
    OpenPlan::Record { id: &invitation.id, opens }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::EmailAddress;
    use crate::id::UserId;
    use crate::model::{Actor, App, AppSettings, Delivery, DeliveryStatus, Invitation, InvitationStatus, Inviter};
    use crate::role::Role;

    const SENT: Timestamp = Timestamp::from_millis(1_700_000_000_000);
    const EDGE: &str =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0";

    fn later() -> Timestamp {
        SENT.plus(Duration::from_secs(60))
    }

    fn open(request: LinkRequest, user_agent: Option<&str>, at: Timestamp) -> LinkOpen<'_> {
        LinkOpen { request, user_agent, at }
    }

    #[test]
    fn classify_open_case_table() {
        use LinkRequest::{Beacon, Head, PageView};
        use OpenVerdict::{Person, Scanner, Unconfirmed};
        use ScannerSign::{RightAfterDelivery, ScannerAgent};
        let safe_links = "Mozilla/5.0 (compatible; SafeLinks/1.0)";
        let cases = [
            (Head, Some(EDGE), later(), Scanner(ScannerSign::Head)),
            (Head, None, later(), Scanner(ScannerSign::Head)),
            (PageView, Some(safe_links), later(), Scanner(ScannerAgent)),
            (PageView, Some("Mimecast-URL-Protect/1.0"), later(), Scanner(ScannerAgent)),
            (PageView, Some("Proofpoint URL Defense"), later(), Scanner(ScannerAgent)),
            (PageView, Some("Barracuda Sentinel (EE)"), later(), Scanner(ScannerAgent)),
            (PageView, Some(EDGE), SENT.plus(Duration::from_secs(2)), Scanner(RightAfterDelivery)),
            (PageView, Some(EDGE), SENT, Scanner(RightAfterDelivery)),
            (PageView, Some(EDGE), SENT.plus(RIGHT_AFTER_DELIVERY), Unconfirmed),
            (PageView, Some(EDGE), later(), Unconfirmed),
            (PageView, None, later(), Unconfirmed),
            (Beacon, Some(EDGE), later(), Person),
            (Beacon, Some("Mozilla/5.0 (Mimecast sandbox)"), later(), Scanner(ScannerAgent)),
            (Beacon, Some(EDGE), SENT.plus(Duration::from_secs(1)), Scanner(RightAfterDelivery)),
        ];
        for (request, agent, at, expected) in cases {
            assert_eq!(classify_open(&open(request, agent, at), Some(SENT)), expected, "{request:?} {agent:?} {at:?}");
        }
    }

    #[test]
    fn classify_open_without_a_delivery_time_judges_by_the_request_alone() {
        assert_eq!(classify_open(&open(LinkRequest::PageView, Some(EDGE), SENT), None), OpenVerdict::Unconfirmed);
        assert_eq!(classify_open(&open(LinkRequest::Beacon, Some(EDGE), SENT), None), OpenVerdict::Person);
    }

    fn lookup(status: InvitationStatus, opens: LinkOpens) -> TokenLookup {
        let app_id = AppId::generate();
        let app = App {
            id: app_id.clone(),
            name: "Acme".into(),
            app_url: "https://acme.test".into(),
            settings: AppSettings::default(),
            created_at: SENT,
        };
        let delivery = Delivery { status: DeliveryStatus::Sent, sent_at: Some(SENT), ..Delivery::queued() };
        let invitation = Invitation {
            id: InvitationId::generate(),
            app_id,
            email: EmailAddress::parse("ada@example.org").expect("valid"),
            role: Role::User,
            status,
            invited_by: Inviter { actor: Actor::User(UserId::generate()), display_name: "Bob".into() },
            expires_at: SENT.plus(Duration::from_secs(86_400)),
            times_sent: 1,
            last_sent_at: SENT,
            delivery,
            created_at: SENT,
            updated_at: SENT,
            opens,
            reminder: Default::default(),
            locale: None,
        };
        TokenLookup { invitation, app, is_current: true }
    }

    fn recorded(plan: OpenPlan<'_>) -> LinkOpens {
        match plan {
            OpenPlan::Record { opens, .. } => opens,
            OpenPlan::Ignore => panic!("expected a record"),
        }
    }

    #[test]
    fn a_scanner_fetch_counts_a_scanner_open_and_keeps_no_person() {
        let found = lookup(InvitationStatus::Pending, LinkOpens::default());
        let opens = recorded(record_open(Some(&found), &found.app.id, &open(LinkRequest::Head, None, later())));
        assert_eq!(opens.scanner_opens(), 1);
        assert_eq!(opens.opened_by_person_at, None);
        assert_eq!(opens.last_opened_at, Some(later()));
    }

    #[test]
    fn a_page_view_counts_as_a_scanner_until_its_beacon_confirms_a_person() {
        let found = lookup(InvitationStatus::Pending, LinkOpens::default());
        let viewed =
            recorded(record_open(Some(&found), &found.app.id, &open(LinkRequest::PageView, Some(EDGE), later())));
        assert_eq!((viewed.scanner_opens(), viewed.opened_by_person_at), (1, None));

        let found = lookup(InvitationStatus::Pending, viewed);
        let beacon_at = later().plus(Duration::from_secs(1));
        let opens =
            recorded(record_open(Some(&found), &found.app.id, &open(LinkRequest::Beacon, Some(EDGE), beacon_at)));
        assert_eq!(opens.scanner_opens(), 0);
        assert_eq!(opens.opened_by_person_at, Some(beacon_at));
        assert_eq!(opens.last_opened_at, Some(later()), "the beacon is not another open");
    }

    #[test]
    fn the_first_person_view_is_kept() {
        let first = later();
        let found =
            lookup(InvitationStatus::Pending, LinkOpens { opened_by_person_at: Some(first), ..LinkOpens::default() });
        let again = first.plus(Duration::from_secs(600));
        let opens = recorded(record_open(Some(&found), &found.app.id, &open(LinkRequest::Beacon, Some(EDGE), again)));
        assert_eq!(opens.opened_by_person_at, Some(first));
        assert_eq!(opens.views_without_script, 0, "never below zero");
    }

    #[test]
    fn opens_of_dead_links_or_under_another_app_are_not_recorded() {
        let at = open(LinkRequest::PageView, Some(EDGE), later());
        for status in [InvitationStatus::Accepted, InvitationStatus::Revoked] {
            let found = lookup(status, LinkOpens::default());
            assert_eq!(record_open(Some(&found), &found.app.id, &at), OpenPlan::Ignore, "{status:?}");
        }
        let found = lookup(InvitationStatus::Pending, LinkOpens::default());
        assert_eq!(record_open(Some(&found), &AppId::generate(), &at), OpenPlan::Ignore);
        assert_eq!(record_open(None, &found.app.id, &at), OpenPlan::Ignore);
    }
}
