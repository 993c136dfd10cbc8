-- report.lua - shared by post.lua and get.lua: after a wrk run, print one line
--   BENCH_RESULT {"requests":..,"duration_s":..,"rps":..,"p50_us":..,"p99_us":..,...}
-- that bench/run.sh picks out of wrk's output. Latencies are wrk's, in microseconds,
-- measured from sending the request to receiving the whole response.
function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      'BENCH_RESULT {"requests":%d,"duration_s":%.3f,"rps":%.1f,"bytes_in":%d,' ..
      '"p50_us":%.1f,"p90_us":%.1f,"p99_us":%.1f,"max_us":%.1f,"mean_us":%.1f,' ..
      '"err_connect":%d,"err_read":%d,"err_write":%d,"err_status":%d,"err_timeout":%d}\n',
      summary.requests, secs, summary.requests / secs, summary.bytes,
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.max, latency.mean,
      e.connect, e.read, e.write, e.status, e.timeout))
end
