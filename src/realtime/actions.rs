//! Client actions over the WebSocket that change state. `post` goes through the same checks and the
//! same store call as `POST /channels/{id}/posts`, and runs a command line as a slash command as it does.

use rustchat_actors::client::PostAction;
use rustchat_actors::ports::{ActionError, ActionOutcome, Actions, LocalFut};
use serde_json::json;
use uuid::Uuid;

use crate::domain::{ChannelId, PostId, SessionId, UserId};
use crate::error::Error;
use crate::store::Store;

pub struct ChatActions {
    pub store: Store,
    pub presence: std::sync::Arc<dyn rustchat_actors::ports::Connections>,
    pub metrics: std::sync::Arc<crate::telemetry::metrics::Metrics>,
    pub webhooks: std::sync::Arc<crate::webhooks::Webhooks>,
}

/// A refusal as a socket's error reply: the REST error code and message.
impl From<Error> for ActionError {
    fn from(e: Error) -> ActionError {
        ActionError { code: e.code.as_str().to_string(), message: e.message.clone() }
    }
}

impl Actions for ChatActions {
    fn post(&self, user: Uuid, login: Uuid, action: PostAction) -> LocalFut<Result<ActionOutcome, ActionError>> {
        let store = self.store.clone();
        let presence = self.presence.clone();
        let metrics = self.metrics.clone();
        let webhooks = self.webhooks.clone();
        Box::pin(async move {
            if crate::app::commands::is_command_line(&action.message) {
                return run_command(&store, &webhooks, user, login, &action).await.map_err(ActionError::from);
            }
            let (post, event) = crate::app::posts::post_as(
                &store,
                presence.as_ref(),
                SessionId(login),
                UserId(user),
                ChannelId(action.channel_id),
                &action.message,
                action.root_id.map(PostId),
            )
            .await
            .map_err(ActionError::from)?;
            metrics.posts_created.add(1, &[]);
            let publish = super::publications(&event);
            Ok(ActionOutcome { reply: json!({ "post": post, "seq": event.seq }), publish })
        })
    }
}

/// A command line sent as a post: the answer is posted (and published like any post) or, ephemeral,
/// sent on the caller's user topic only. The reply says which.
async fn run_command(
    store: &Store,
    webhooks: &crate::webhooks::Webhooks,
    user: Uuid,
    login: Uuid,
    action: &PostAction,
) -> Result<ActionOutcome, Error> {
    use crate::app::commands::Ran;
    let caller = crate::auth::AuthUser::of_session(store, SessionId(login), UserId(user)).await?;
    let channel = ChannelId(action.channel_id);
    Ok(
        match crate::app::commands::run(
            store,
            webhooks,
            &caller,
            webhooks.site.get().enable_commands,
            channel,
            &action.message,
        )
        .await?
        {
            Ran::Posted(posted) => {
                let (post, event) = *posted;
                webhooks.metrics.posts_created.add(1, &[]);
                let publish = super::publications(&event);
                ActionOutcome {
                    reply: json!({ "post": post, "seq": event.seq, "response_type": "in_channel" }),
                    publish,
                }
            }
            Ran::Ephemeral(text) => {
                let frame = super::render::ephemeral_message(channel, &text);
                let publish = vec![rustchat_actors::ports::BusMessage::User {
                    user,
                    text: bytestring::ByteString::from(frame.to_string()),
                }];
                ActionOutcome { reply: json!({ "response_type": "ephemeral", "text": text }), publish }
            }
            Ran::Nothing => ActionOutcome { reply: json!({ "response_type": "none" }), publish: Vec::new() },
        },
    )
}
