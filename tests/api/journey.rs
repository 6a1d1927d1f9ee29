//! The whole foundation journey, as a new team would live it.

use atelier::domain::ops::audit;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::helpers::*;
use crate::on_both_databases;

async fn full_journey(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    // Sign up: no tokens until the address is confirmed.
    let data = app.sign_up("owner@example.com", "Olivia Owner").await;
    assert_eq!(data["signUp"]["verificationRequired"], true);
    assert!(data["signUp"]["accessToken"].is_null());

    // Log-in before verification is refused and a fresh link is sent.
    let early = app
        .gql(
            None,
            LOG_IN,
            json!({ "input": { "email": "owner@example.com", "password": PASSWORD } }),
        )
        .await;
    assert_eq!(error_code(&early).as_deref(), Some("FORBIDDEN"), "{early}");

    // The verification email arrives at the SMTP sink with a one-time link.
    let mail = app.inbox.wait_for("owner@example.com", 1).await;
    assert!(mail.subject().contains("Confirm your email"));
    assert_eq!(mail.from, "no-reply@atelier.localhost");
    assert!(mail
        .decoded()
        .contains("http://app.test/verify-email?token="));
    let verified = app
        .gql_ok(None, VERIFY_EMAIL, json!({ "token": mail.token() }))
        .await;
    assert_eq!(verified["verifyEmail"]["emailVerified"], true);
    // The link is single-use.
    let again = app
        .gql(None, VERIFY_EMAIL, json!({ "token": mail.token() }))
        .await;
    assert_eq!(error_code(&again).as_deref(), Some("BAD_USER_INPUT"));

    // Log in, then refresh: the old refresh token is spent.
    let first = app.log_in("OWNER@example.com ").await;
    let refreshed = app
        .gql_ok(None, REFRESH, json!({ "t": first.refresh }))
        .await;
    let second = Session::from(&refreshed["refreshSession"]);
    assert_ne!(second.refresh, first.refresh);
    let me = app
        .gql_ok(
            Some(&second.access),
            "{ me { email displayName } }",
            json!({}),
        )
        .await;
    assert_eq!(me["me"]["email"], "owner@example.com");

    // Reusing the spent token is refused and revokes the new one too.
    let reuse = app.gql(None, REFRESH, json!({ "t": first.refresh })).await;
    assert_eq!(error_code(&reuse).as_deref(), Some("UNAUTHENTICATED"));
    let after_reuse = app.gql(None, REFRESH, json!({ "t": second.refresh })).await;
    assert_eq!(error_code(&after_reuse).as_deref(), Some("UNAUTHENTICATED"));

    // A new log-in works again; the owner creates a workspace.
    let owner = app.log_in("owner@example.com").await;
    let workspace_id = app.create_workspace(&owner, "Northwind Studio").await;

    // Invite a member; the invitee gets the email, signs up, verifies and accepts.
    let invited = app
        .gql_ok(
            Some(&owner.access),
            INVITE,
            json!({ "input": { "workspaceId": workspace_id, "email": "Vera@Example.com", "role": "VIEWER" } }),
        )
        .await;
    assert_eq!(invited["inviteMember"]["status"], "PENDING");
    assert_eq!(invited["inviteMember"]["email"], "vera@example.com");
    let invitation = app.inbox.wait_for("vera@example.com", 1).await;
    assert!(invitation.subject().contains("Northwind Studio"));
    assert!(invitation
        .decoded()
        .contains("http://app.test/invitations/accept?token="));
    let invitation_token = invitation.token();

    app.sign_up("vera@example.com", "Vera Viewer").await;
    let verify = app.inbox.wait_for("vera@example.com", 2).await;
    app.gql_ok(None, VERIFY_EMAIL, json!({ "token": verify.token() }))
        .await;
    let viewer = app.log_in("vera@example.com").await;
    let accepted = app
        .gql_ok(
            Some(&viewer.access),
            ACCEPT,
            json!({ "token": invitation_token }),
        )
        .await;
    assert_eq!(accepted["acceptInvitation"]["role"], "VIEWER");
    assert_eq!(
        accepted["acceptInvitation"]["workspace"]["name"],
        "Northwind Studio"
    );

    // The member list shows both; the invitation is accepted.
    let listed = app
        .gql_ok(
            Some(&owner.access),
            "query($id: ID!) { workspace(id: $id) { members(first: 10) { edges { node { role user { email } } } }
               invitations { edges { node { status } } } } }",
            json!({ "id": workspace_id }),
        )
        .await;
    let members = listed["workspace"]["members"]["edges"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(
        listed["workspace"]["invitations"]["edges"][0]["node"]["status"],
        "ACCEPTED"
    );

    // Role rules: a VIEWER cannot invite.
    let refused = app
        .gql(
            Some(&viewer.access),
            INVITE,
            json!({ "input": { "workspaceId": workspace_id, "email": "x@example.com", "role": "EDITOR" } }),
        )
        .await;
    assert_eq!(
        error_code(&refused).as_deref(),
        Some("FORBIDDEN"),
        "{refused}"
    );

    // The last OWNER cannot leave or be demoted.
    let leave = app
        .gql(
            Some(&owner.access),
            "mutation($w: ID!, $u: ID!) { removeMember(workspaceId: $w, userId: $u) }",
            json!({ "w": workspace_id, "u": owner.user_id }),
        )
        .await;
    assert_eq!(
        error_code(&leave).as_deref(),
        Some("BAD_USER_INPUT"),
        "{leave}"
    );
    assert!(leave["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("at least one owner"));
    let demote = app
        .gql(
            Some(&owner.access),
            "mutation($w: ID!, $u: ID!) { changeMemberRole(workspaceId: $w, userId: $u, role: ADMIN) { role } }",
            json!({ "w": workspace_id, "u": owner.user_id }),
        )
        .await;
    assert_eq!(
        error_code(&demote).as_deref(),
        Some("BAD_USER_INPUT"),
        "{demote}"
    );

    // The workspace audit log shows what happened, newest first.
    let log = app
        .gql_ok(
            Some(&owner.access),
            "query($id: ID!) { workspace(id: $id) { auditLog(first: 50) { edges { node { action actorKind ipNetwork } } } } }",
            json!({ "id": workspace_id }),
        )
        .await;
    let actions: Vec<&str> = log["workspace"]["auditLog"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "workspace.invitation_accepted",
            "workspace.member_invited",
            "workspace.created"
        ]
    );
    assert_eq!(
        log["workspace"]["auditLog"]["edges"][0]["node"]["ipNetwork"],
        "127.0.0.0/24"
    );

    // Once sealed, the whole chain verifies; tampering with one row is detected there.
    audit::seal(&app.db).await.unwrap();
    let report = audit::verify_chain(&app.db).await.unwrap();
    assert_eq!(report.unsealed, 0, "{report:?}");
    assert!(report.is_intact(), "{report:?}");
    assert!(report.events_checked >= 10, "{report:?}");
    assert_eq!(
        audit::count_action(&app.db, "auth.refresh_reuse_detected")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        audit::count_action(&app.db, "account.signed_up")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        audit::count_action(&app.db, "auth.login_succeeded")
            .await
            .unwrap(),
        3
    );
    let backend = app.db.get_database_backend();
    let target_seq: i64 = 3;
    app.db
        .execute_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DatabaseBackend::Postgres => {
                    "UPDATE audit_events SET details = '{\"role\":\"OWNER\"}' WHERE seq = $1"
                }
                _ => "UPDATE audit_events SET details = '{\"role\":\"OWNER\"}' WHERE seq = ?",
            },
            [target_seq.into()],
        ))
        .await
        .unwrap();
    let report = audit::verify_chain(&app.db).await.unwrap();
    assert_eq!(report.first_broken_seq, Some(target_seq));

    app.stop().await;
}
on_both_databases!(full_journey);
