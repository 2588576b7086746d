-- wrk script for bench/run.sh: POST a small OpenAI chat request asking for an SSE stream
-- with a final usage chunk.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}'
