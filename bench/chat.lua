-- wrk script for bench/run.sh: POST a small OpenAI chat request (non-streaming).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"m","messages":[{"role":"user","content":"hi"}]}'
