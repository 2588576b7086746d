//! A response prompt guard on a stream already in the client's format: every event the
//! inner translator produces is masked (or the stream refused) before the client sees it.

use super::EventTranslator;
use crate::guard::{Blocked, GuardedChatStream, GuardedMessagesStream, PromptGuard};
use crate::route::ClientApi;
use crate::sse::{Event, SseDecoder};
use crate::usage::Usage;

enum Stage {
    Chat(GuardedChatStream),
    Messages(GuardedMessagesStream),
}

pub struct Guarded {
    inner: Box<dyn EventTranslator>,
    between: SseDecoder,
    stage: Stage,
    refused: bool,
}

impl Guarded {
    /// Wraps `inner` (whose output is in `client`'s format); returns it unchanged when the
    /// guard has no response rules, so unguarded streams pay nothing.
    pub fn wrap(
        inner: Box<dyn EventTranslator>,
        guard: &PromptGuard,
        client: ClientApi,
    ) -> Box<dyn EventTranslator> {
        let stage = match client {
            ClientApi::Messages => guard.messages_stream().map(Stage::Messages),
            _ => guard.chat_stream().map(Stage::Chat),
        };
        match stage {
            Some(stage) => Box::new(Self {
                inner,
                between: SseDecoder::default(),
                stage,
                refused: false,
            }),
            None => inner,
        }
    }

    fn pass(&mut self, framed: &str) -> String {
        let mut out = String::new();
        for event in self.between.feed(framed.as_bytes()) {
            if self.refused {
                break;
            }
            match self.guard(&event) {
                Ok(text) => out.push_str(&text),
                Err(blocked) => {
                    self.refused = true;
                    out.push_str(&self.inner.error(&blocked.message));
                }
            }
        }
        out
    }

    fn guard(&mut self, event: &Event) -> Result<String, Blocked> {
        Ok(match &mut self.stage {
            Stage::Chat(chat) => chat
                .payload(&event.data)?
                .iter()
                .map(|p| format!("data: {p}\n\n"))
                .collect(),
            Stage::Messages(messages) => {
                let name = event.event.as_deref().unwrap_or("message");
                messages
                    .event(name, &event.data)?
                    .iter()
                    .map(|(name, data)| format!("event: {name}\ndata: {data}\n\n"))
                    .collect()
            }
        })
    }
}

impl EventTranslator for Guarded {
    fn event(&mut self, event: &Event) -> String {
        if self.refused {
            return String::new();
        }
        let framed = self.inner.event(event);
        self.pass(&framed)
    }

    fn finish(&mut self) -> String {
        if self.refused {
            return String::new();
        }
        let framed = self.inner.finish();
        self.pass(&framed)
    }

    fn finished(&self) -> bool {
        self.refused || self.inner.finished()
    }

    fn error(&mut self, message: &str) -> String {
        self.refused = true;
        self.inner.error(message)
    }

    fn usage(&self) -> Option<Usage> {
        self.inner.usage()
    }

    fn model(&self) -> &str {
        self.inner.model()
    }
}
