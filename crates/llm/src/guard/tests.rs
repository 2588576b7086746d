use serde_json::{Value, json};

use super::detectors::luhn_valid;
use super::*;
use crate::fixture;
use crate::sse::SseDecoder;

fn rule(action: GuardAction, patterns: &[&str], builtins: &[Builtin]) -> Rule {
    let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
    Rule::new(action, &patterns, builtins, None, None).unwrap()
}

fn guard(request: Vec<Rule>, response: Vec<Rule>) -> PromptGuard {
    PromptGuard::new(request, response).unwrap()
}

/// What one builtin finds in `text`.
fn found(builtin: Builtin, text: &str) -> Vec<String> {
    rule(GuardAction::Mask, &[], &[builtin])
        .find(text)
        .into_iter()
        .map(|hit| text[hit.range].to_owned())
        .collect()
}

const ALL: [Builtin; 4] = [
    Builtin::CreditCard,
    Builtin::Email,
    Builtin::Ssn,
    Builtin::PhoneNumber,
];

fn mask_all_responses() -> PromptGuard {
    guard(vec![], vec![rule(GuardAction::Mask, &[], &ALL)])
}

#[test]
fn luhn_valid_cards_match_with_or_without_separators() {
    for card in [
        "4111111111111111",
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "5555 5555 5555 4444",
        "3782 822463 10005",
        "6011000990139424",
    ] {
        let text = format!("my card is {card}, thanks");
        assert_eq!(found(Builtin::CreditCard, &text), [card], "{card}");
    }
    // A year after the number is not part of it.
    assert_eq!(
        found(
            Builtin::CreditCard,
            "pay with 4111 1111 1111 1111 2027 please"
        ),
        ["4111 1111 1111 1111"]
    );
    // Two cards in one run of groups.
    assert_eq!(
        found(
            Builtin::CreditCard,
            "4111 1111 1111 1111 5555 5555 5555 4444"
        ),
        ["4111 1111 1111 1111", "5555 5555 5555 4444"]
    );
}

#[test]
fn numbers_failing_luhn_or_shape_are_not_cards() {
    assert!(!luhn_valid(b"4111111111111112"));
    assert!(!luhn_valid(b"1234567890123456"));
    for text in [
        "4111 1111 1111 1112",
        "order 1234567890123456",
        // Longer digit runs, decimals and dash-joined ids are not cards.
        "id 41111111111111111111111",
        "p = 0.4111111111111111",
        "ref 12-4111111111111111",
        "x4111111111111111",
        // Luhn-valid but shaped like a list of small numbers.
        "1 2 3 4 5 6 7 8 9 1 0 1 5",
        "0000 0000 0000 0000",
    ] {
        assert!(found(Builtin::CreditCard, text).is_empty(), "{text}");
    }
}

#[test]
fn ssns_follow_the_issuing_rules() {
    assert_eq!(found(Builtin::Ssn, "SSN: 123-45-6789."), ["123-45-6789"]);
    assert_eq!(found(Builtin::Ssn, "(078-05-1120)"), ["078-05-1120"]);
    for text in [
        "000-12-3456",
        "666-12-3456",
        "912-34-5678",
        "123-00-4567",
        "123-45-0000",
        "1123-45-6789",
        "123-45-67890",
        "a123-45-6789",
        "123456789",
    ] {
        assert!(found(Builtin::Ssn, text).is_empty(), "{text}");
    }
}

#[test]
fn emails_match_whole_addresses() {
    assert_eq!(
        found(Builtin::Email, "write to jane.doe+news@mail.example.co.uk."),
        ["jane.doe+news@mail.example.co.uk"]
    );
    assert_eq!(found(Builtin::Email, "<bob@x.io>"), ["bob@x.io"]);
    assert_eq!(found(Builtin::Email, "...bob@x.io"), ["bob@x.io"]);
    for text in [
        "foo@bar",
        "user@localhost",
        "@example.com",
        "a@b.c",
        "bob@x.io9",
    ] {
        assert!(found(Builtin::Email, text).is_empty(), "{text}");
    }
}

#[test]
fn phone_numbers_match_but_dates_and_order_numbers_do_not() {
    for phone in [
        "+1 (415) 555-2671",
        "(415) 555-2671",
        "415-555-2671",
        "415.555.2671",
        "415 555 2671",
        "1-800-555-0199",
        "+14155552671",
        "+44 20 7946 0958",
        "+33 1 23 45 67 89",
        "+44 (20) 7946 0958",
    ] {
        let text = format!("call {phone} today");
        assert_eq!(found(Builtin::PhoneNumber, &text), [phone], "{phone}");
    }
    for text in [
        "on 2024-01-15 at 10:30:45",
        "12/31/2024",
        "2024.01.15",
        "order 4155552671",
        "order #12345678901",
        "415-555-26710",
        "123-456-7890",
        "415-555.2671",
        "pi is 3.14159265358979",
        "+1234567",
        "2024-555-123-4567",
        "2024-01-15T10:30:00+01:00",
    ] {
        assert!(found(Builtin::PhoneNumber, text).is_empty(), "{text}");
    }
    // A number glued after an international one is left out when it would be too long.
    assert_eq!(
        found(Builtin::PhoneNumber, "+44 20 7946 0958 12345"),
        ["+44 20 7946 0958"]
    );
}

#[test]
fn invalid_rules_are_reported_at_config_time() {
    let e = Rule::new(GuardAction::Reject, &["([a-z".into()], &[], None, None).unwrap_err();
    assert!(matches!(&e, GuardError::InvalidRegex { pattern, .. } if pattern == "([a-z"));
    let text = e.to_string();
    assert!(text.contains("`([a-z`"), "{text}");
    assert!(text.contains("unclosed"), "{text}");
    assert_eq!(
        Rule::new(GuardAction::Reject, &[], &[], None, None).unwrap_err(),
        GuardError::NoDetectors
    );
    assert_eq!(
        Rule::new(GuardAction::Reject, &[], &[Builtin::Email], None, Some(200)).unwrap_err(),
        GuardError::InvalidStatus(200)
    );
}

#[test]
fn request_reject_on_openai_names_the_rule_not_the_text() {
    let g = guard(
        vec![
            rule(GuardAction::Reject, &["(?i)password"], &[]),
            rule(
                GuardAction::Reject,
                &[],
                &[Builtin::CreditCard, Builtin::Email],
            ),
        ],
        vec![],
    );
    let mut body = json!({
        "model": "gpt-4o-mini",
        "messages": [
            { "role": "system", "content": "Be brief." },
            { "role": "user", "content": [
                { "type": "text", "text": "Hi" },
                { "type": "text", "text": "mail jane@example.com" },
            ]},
        ],
    });
    let original = body.clone();
    let blocked = g
        .check_request(ClientApi::ChatCompletions, &mut body)
        .unwrap_err();
    assert_eq!(blocked.status, DEFAULT_BLOCK_STATUS);
    assert_eq!(blocked.rule, 1);
    assert_eq!(
        blocked.message,
        "the request was blocked by the gateway's prompt guard (promptGuard.request[1]: builtin Email)"
    );
    assert!(!blocked.message.contains("jane"));
    assert_eq!(body, original);
    let error = blocked.error_body(ClientApi::ChatCompletions);
    assert_eq!(error["error"]["message"], blocked.message.as_str());
    assert_eq!(error["error"]["code"], "prompt_guard");

    // Custom patterns are named by position, never echoed.
    let mut body = json!({ "messages": [{ "role": "user", "content": "my PASSWORD is hunter2" }] });
    let blocked = g
        .check_request(ClientApi::ChatCompletions, &mut body)
        .unwrap_err();
    assert_eq!(blocked.rule, 0);
    assert!(
        blocked
            .message
            .contains("promptGuard.request[0]: matches[0]")
    );
    assert!(!blocked.message.contains("hunter2") && !blocked.message.contains("(?i)"));

    // Nothing sensitive: untouched.
    let mut clean = fixture_json("openai/chat_request.json");
    let before = clean.clone();
    assert!(
        !g.check_request(ClientApi::ChatCompletions, &mut clean)
            .unwrap()
    );
    assert_eq!(clean, before);
}

#[test]
fn request_reject_on_anthropic_sees_system_and_tool_results() {
    let reject_ssn = Rule::new(
        GuardAction::Reject,
        &[],
        &[Builtin::Ssn],
        Some("blocked".into()),
        Some(451),
    )
    .unwrap();
    let g = guard(vec![reject_ssn], vec![]);
    let mut body = json!({
        "model": "claude-sonnet-4-5",
        "system": [{ "type": "text", "text": "Customer SSN 123-45-6789" }],
        "messages": [{ "role": "user", "content": "hi" }],
    });
    let blocked = g.check_request(ClientApi::Messages, &mut body).unwrap_err();
    assert_eq!(
        blocked,
        Blocked {
            message: "blocked".into(),
            status: 451,
            rule: 0
        }
    );
    assert_eq!(
        blocked.error_body(ClientApi::Messages)["error"]["message"],
        "blocked"
    );

    let mut body = json!({
        "messages": [{ "role": "user", "content": [
            { "type": "tool_result", "tool_use_id": "toolu_1", "content": [
                { "type": "text", "text": "record: 123-45-6789" },
            ]},
        ]}],
    });
    assert!(g.check_request(ClientApi::Messages, &mut body).is_err());

    // The fixtures carry nothing sensitive.
    for path in [
        "anthropic/messages_request.json",
        "anthropic/messages_request_tool_result.json",
    ] {
        let mut body = fixture_json(path);
        assert!(
            !g.check_request(ClientApi::Messages, &mut body).unwrap(),
            "{path}"
        );
    }
}

#[test]
fn request_mask_rewrites_only_the_matched_text() {
    let g = guard(vec![rule(GuardAction::Mask, &[], &ALL)], vec![]);
    let mut body = json!({
        "model": "gpt-4o-mini",
        "messages": [
            { "role": "user", "content": [
                { "type": "text", "text": "Reach me at jane@example.com or (415) 555-2671." },
                { "type": "image_url", "image_url": { "url": "https://example.com/a@b.com.png" } },
            ]},
            { "role": "assistant", "content": "Noted." },
        ],
        "temperature": 0.2,
    });
    assert!(
        g.check_request(ClientApi::ChatCompletions, &mut body)
            .unwrap()
    );
    assert_eq!(
        body["messages"][0]["content"][0]["text"],
        "Reach me at <EMAIL> or <PHONE_NUMBER>."
    );
    assert_eq!(
        body["messages"][0]["content"][1]["image_url"]["url"],
        "https://example.com/a@b.com.png"
    );
    assert_eq!(body["messages"][1]["content"], "Noted.");
    assert_eq!(body["temperature"], 0.2);

    let mut body = json!({
        "system": "Card on file: 4111-1111-1111-1111",
        "messages": [{ "role": "user", "content": [
            { "type": "text", "text": "SSN 123-45-6789 please" },
            { "type": "tool_result", "tool_use_id": "t", "content": "mail bob@x.io" },
        ]}],
    });
    assert!(g.check_request(ClientApi::Messages, &mut body).unwrap());
    assert_eq!(body["system"], "Card on file: <CREDIT_CARD>");
    assert_eq!(
        body["messages"][0]["content"][0]["text"],
        "SSN <SSN> please"
    );
    assert_eq!(body["messages"][0]["content"][1]["content"], "mail <EMAIL>");
}

#[test]
fn rules_apply_in_order_and_custom_masks() {
    let g = guard(
        vec![
            rule(GuardAction::Mask, &["(?i)project \\w+"], &[Builtin::Email]),
            rule(GuardAction::Reject, &["(?i)\\bssn\\b"], &[]),
        ],
        vec![],
    );
    assert_eq!(
        g.check_request_text("Project Falcon: ask a@b.io").unwrap(),
        Some("<MASKED>: ask <EMAIL>".to_owned())
    );
    assert_eq!(g.check_request_text("nothing here").unwrap(), None);
    assert_eq!(g.check_request_text("my SSN is").unwrap_err().rule, 1);
}

#[test]
fn response_bodies_are_masked_or_refused() {
    let g = mask_all_responses();
    let mut body = fixture_json("openai/chat_response.json");
    body["choices"][0]["message"]["content"] =
        json!("Sure: call +1 415 555 2671 or mail ops@example.org.");
    assert!(
        g.guard_response(ClientApi::ChatCompletions, &mut body)
            .unwrap()
    );
    assert_eq!(
        body["choices"][0]["message"]["content"],
        "Sure: call <PHONE_NUMBER> or mail <EMAIL>."
    );

    let mut body = fixture_json("anthropic/messages_response.json");
    let original = body.clone();
    assert!(!g.guard_response(ClientApi::Messages, &mut body).unwrap());
    assert_eq!(body, original);
    body["content"] = json!([
        { "type": "text", "text": "Your SSN is 123-45-6789." },
        { "type": "tool_use", "id": "t", "name": "f", "input": { "ssn": "123-45-6789" } },
    ]);
    assert!(g.guard_response(ClientApi::Messages, &mut body).unwrap());
    assert_eq!(body["content"][0]["text"], "Your SSN is <SSN>.");
    assert_eq!(body["content"][1]["input"]["ssn"], "123-45-6789");

    let reject = guard(
        vec![],
        vec![rule(GuardAction::Reject, &[], &[Builtin::Ssn])],
    );
    let blocked = reject.check_response_text("it is 123-45-6789").unwrap_err();
    assert_eq!(
        blocked.message,
        "the response was blocked by the gateway's prompt guard (promptGuard.response[0]: builtin Ssn)"
    );
    assert_eq!(reject.check_response_text("fine").unwrap(), None);
    assert!(reject.stream_masker().is_some());
    assert!(guard(vec![], vec![]).stream_masker().is_none());
}

/// Streams `pieces` through a masker and returns every released part (flush last).
fn stream(masker: &mut StreamMasker, pieces: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = pieces.iter().map(|p| masker.push(0, p).unwrap()).collect();
    out.push(masker.flush(0).unwrap());
    out
}

#[test]
fn stream_masks_a_match_split_anywhere() {
    let g = mask_all_responses();
    for text in [
        "Contact jane.doe@example.com today.",
        "card 4111 1111 1111 1111 exp 12/27",
        "call (415) 555-2671 or +44 20 7946 0958!",
        "ssn 123-45-6789\nthanks",
    ] {
        let expected = g.check_response_text(text).unwrap().unwrap();
        let bounds: Vec<usize> = (0..=text.len())
            .filter(|&i| text.is_char_boundary(i))
            .collect();
        // Every split into 2 and 3 pieces, and 4-5 pieces in sliding windows.
        let mut splits: Vec<Vec<usize>> = Vec::new();
        for &a in &bounds {
            splits.push(vec![a]);
            for &b in bounds.iter().filter(|&&b| b > a) {
                splits.push(vec![a, b]);
            }
            splits.push(vec![a, (a + 3).min(text.len()), (a + 7).min(text.len())]);
            splits.push(vec![
                a / 2,
                a,
                (a + 2).min(text.len()),
                (a + 5).min(text.len()),
            ]);
        }
        for cuts in splits {
            let mut pieces = Vec::new();
            let mut from = 0;
            for cut in cuts {
                pieces.push(&text[from..cut]);
                from = cut;
            }
            pieces.push(&text[from..]);
            let mut masker = g.stream_masker().unwrap();
            let joined = stream(&mut masker, &pieces).concat();
            assert_eq!(joined, expected, "{pieces:?}");
        }
    }
}

#[test]
fn stream_releases_ordinary_text_at_once() {
    let g = mask_all_responses();
    let mut masker = g.stream_masker().unwrap();
    assert_eq!(masker.push(0, "Hello there, my").unwrap(), "Hello there, ");
    assert_eq!(masker.push(0, " email").unwrap(), "my ");
    assert_eq!(masker.push(0, " is jane").unwrap(), "email is ");
    assert_eq!(masker.push(0, ".doe@exa").unwrap(), "");
    assert_eq!(masker.push(0, "mple.com and").unwrap(), "<EMAIL> ");
    assert_eq!(masker.flush(0).unwrap(), "and");
    // Numbers are held while they may grow into a card; channels are independent.
    assert_eq!(masker.push(1, "pay 4111 1111").unwrap(), "pay ");
    assert_eq!(masker.push(2, "other choice").unwrap(), "other ");
    assert_eq!(masker.push(1, " 1111 1111 now").unwrap(), "<CREDIT_CARD> ");
    assert_eq!(
        masker.flush_all().unwrap(),
        [(1, "now".to_owned()), (2, "choice".to_owned())]
    );
    assert!(!masker.has_open_channels());
}

#[test]
fn stream_rejects_on_a_split_match_and_masks_across_released_text() {
    let g = guard(
        vec![],
        vec![rule(GuardAction::Reject, &["(?i)password"], &[])],
    );
    let mut masker = g.stream_masker().unwrap();
    assert_eq!(masker.push(0, "your pass").unwrap(), "your ");
    let blocked = masker.push(0, "word is").unwrap_err();
    assert_eq!(blocked.rule, 0);

    // A pattern spanning whitespace: the part already sent stays sent, the rest is masked.
    let g = guard(
        vec![],
        vec![rule(GuardAction::Mask, &["social security"], &[])],
    );
    let mut masker = g.stream_masker().unwrap();
    let out = stream(&mut masker, &["my social", " sec", "urity number"]).concat();
    assert_eq!(out, "my social <MASKED> number");
    let mut masker = g.stream_masker().unwrap();
    let out = stream(&mut masker, &["my social security", " number"]).concat();
    assert_eq!(out, "my <MASKED> number");
}

fn fixture_json(path: &str) -> Value {
    serde_json::from_slice(&fixture(path)).unwrap()
}

fn sse_events(path: &str) -> Vec<(String, String)> {
    SseDecoder::default()
        .feed(&fixture(path))
        .into_iter()
        .map(|e| (e.event.unwrap_or_default(), e.data))
        .collect()
}

/// The text of chat chunks, in order.
fn chat_text(payloads: &[String]) -> String {
    payloads
        .iter()
        .filter(|p| p.as_str() != "[DONE]")
        .filter_map(|p| {
            let v: Value = serde_json::from_str(p).unwrap();
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn chat_stream_masks_split_content_and_flushes_before_finish() {
    let g = mask_all_responses();
    let events = sse_events("openai/chat_stream.sse");
    let template: Value = serde_json::from_str(&events[1].1).unwrap();
    let chunk = |content: &str| {
        let mut c = template.clone();
        c["choices"][0]["delta"]["content"] = json!(content);
        c.to_string()
    };

    let mut inputs = vec![events[0].1.clone()];
    for piece in ["Mail", " me at", " jane", ".doe@", "example", ".com"] {
        inputs.push(chunk(piece));
    }
    // The finish, usage and [DONE] payloads of the provider.
    inputs.extend(events[events.len() - 3..].iter().map(|(_, d)| d.clone()));

    let mut s = g.chat_stream().unwrap();
    let mut out = Vec::new();
    for input in &inputs {
        out.extend(s.payload(input).unwrap());
    }
    assert_eq!(chat_text(&out), "Mail me at <EMAIL>");
    assert!(
        out.iter()
            .all(|p| !p.contains("jane") && !p.contains("example.com"))
    );
    // The held email went out in an extra chunk right before the finishing one.
    let finish = out
        .iter()
        .position(|p| p.contains("\"finish_reason\":\"stop\""))
        .unwrap();
    let extra: Value = serde_json::from_str(&out[finish - 1]).unwrap();
    assert_eq!(extra["choices"][0]["delta"]["content"], "<EMAIL>");
    assert_eq!(extra["id"], template["id"]);
    assert_eq!(extra["model"], template["model"]);
    assert_eq!(extra["object"], "chat.completion.chunk");
    // Untouched payloads pass byte for byte.
    assert_eq!(out[0], inputs[0]);
    assert_eq!(&out[finish..], &inputs[inputs.len() - 3..]);
}

#[test]
fn chat_stream_passes_the_fixture_text_through() {
    let g = mask_all_responses();
    let inputs: Vec<String> = sse_events("openai/chat_stream.sse")
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    let mut s = g.chat_stream().unwrap();
    let mut out = Vec::new();
    for input in &inputs {
        out.extend(s.payload(input).unwrap());
    }
    assert_eq!(chat_text(&out), chat_text(&inputs));
    // One extra chunk carries the last word ("Paris.") before the finishing chunk.
    assert_eq!(out.len(), inputs.len() + 1);
    assert_eq!(out.last().map(String::as_str), Some("[DONE]"));

    // Without a finish_reason, [DONE] flushes.
    let mut s = g.chat_stream().unwrap();
    let first = s.payload(&inputs[1]).unwrap();
    assert_eq!(chat_text(&first), "");
    let done = s.payload("[DONE]").unwrap();
    assert_eq!(done.len(), 2);
    assert_eq!(chat_text(&done[..1]), "It's");

    let reject = guard(
        vec![],
        vec![rule(GuardAction::Reject, &[], &[Builtin::Email])],
    );
    let mut s = reject.chat_stream().unwrap();
    let mut c: Value = serde_json::from_str(&inputs[1]).unwrap();
    c["choices"][0]["delta"]["content"] = json!("mail a@b.io now");
    assert_eq!(s.payload(&c.to_string()).unwrap_err().rule, 0);
}

#[test]
fn messages_stream_masks_text_deltas_and_flushes_before_block_stop() {
    let g = mask_all_responses();
    let events = sse_events("anthropic/messages_stream.sse");
    let mut s = g.messages_stream().unwrap();
    let mut out = Vec::new();
    for (name, data) in &events {
        out.extend(s.event(name, data).unwrap());
    }
    let text_of = |events: &[(String, String)], index: u64| -> String {
        events
            .iter()
            .filter(|(name, _)| name == "content_block_delta")
            .filter_map(|(_, d)| {
                let v: Value = serde_json::from_str(d).unwrap();
                (v["index"] == index).then(|| v["delta"]["text"].as_str().map(str::to_owned))?
            })
            .collect()
    };
    assert_eq!(
        text_of(&out, 0),
        "I'll look up the current weather in Paris."
    );
    assert_eq!(text_of(&out, 0), text_of(&events, 0));
    // Tool input deltas and the rest pass byte for byte; one extra delta for the held word.
    assert_eq!(out.len(), events.len() + 1);
    for (name, data) in events
        .iter()
        .filter(|(n, d)| n != "content_block_delta" || d.contains("input_json_delta"))
    {
        assert!(out.contains(&(name.clone(), data.clone())), "{data}");
    }
    let stop = out
        .iter()
        .position(|(n, _)| n == "content_block_stop")
        .unwrap();
    assert!(out[stop - 1].1.contains("\"text\":\"Paris.\""));

    // An email split over three deltas, held until the block stops.
    let mut s = g.messages_stream().unwrap();
    let delta = |text: &str| {
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": text } })
            .to_string()
    };
    let mut out = Vec::new();
    for piece in ["Write to ops", "@exam", "ple.org"] {
        out.extend(s.event("content_block_delta", &delta(piece)).unwrap());
    }
    out.extend(
        s.event(
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#,
        )
        .unwrap(),
    );
    assert_eq!(text_of(&out, 0), "Write to <EMAIL>");
    assert!(
        out.iter()
            .all(|(_, d)| !d.contains("ops@") && !d.contains("example"))
    );
    assert_eq!(out.last().unwrap().0, "content_block_stop");

    // Events without a name are recognised by their type.
    let mut s = g.messages_stream().unwrap();
    let out = s.event("", &delta("call 415-555-2671 now")).unwrap();
    assert_eq!(
        text_of(&[("content_block_delta".into(), out[0].1.clone())], 0),
        "call <PHONE_NUMBER> "
    );
    let out = s.event("", r#"{"type":"message_stop"}"#).unwrap();
    assert_eq!(out.len(), 2);
    assert!(out[0].1.contains("\"text\":\"now\""));

    let reject = guard(
        vec![],
        vec![rule(GuardAction::Reject, &[], &[Builtin::Ssn])],
    );
    let mut s = reject.messages_stream().unwrap();
    s.event("content_block_delta", &delta("id 123-45-"))
        .unwrap();
    s.event("content_block_delta", &delta("6789")).unwrap();
    assert!(
        s.event(
            "content_block_stop",
            r#"{"type":"content_block_stop","index":0}"#
        )
        .is_err()
    );
}

#[test]
fn guards_and_streams_can_cross_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<PromptGuard>();
    shareable::<StreamMasker>();
    shareable::<GuardedChatStream>();
    shareable::<GuardedMessagesStream>();
}
