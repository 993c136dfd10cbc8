/* syslog.h - a captured line as an RFC 5424 syslog message in an RFC 6587
 * octet-counting frame ("LEN SP MSG"), the bytes delivery spools and sends,
 * and the parser that finds the frames again in a spool. Pure; any thread.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG
 *   <14>1 2026-12-02T05:54:39.123456Z host ms-ab12cd34-1 ms-ab12cd34-1-0 stdout
 *       [berth@32473 service="ms-ab12cd34-1" group="ms-ab12cd34" pod="ms-ab12cd34-1-0"
 *       stream="stdout"] the line
 */
#ifndef BERTH_LOGS_SYSLOG_H
#define BERTH_LOGS_SYSLOG_H

#include <stddef.h>
#include <stdint.h>

#include "logs/line.h"

/* The SD-ID of Berth's structured data. Berth has no private enterprise
 * number of its own; 32473 is the one IANA reserves for documentation
 * (RFC 5612), which RFC 5424's own examples use. */
#define LOGS_SYSLOG_SD_ID "berth@32473"

/* RFC 5424 facilities Berth lets an operator choose. */
#define LOGS_SYSLOG_USER 1
#define LOGS_SYSLOG_LOCAL0 16 /* local0 .. local7 are 16 .. 23 */

/* Severities: stdout is informational, stderr a warning (programs write
 * their ordinary diagnostics there too, so it is not "error"). */
#define LOGS_SYSLOG_WARNING 4
#define LOGS_SYSLOG_INFO 6

/* The largest frame logs_syslog_frame() writes: a whole line and the header
 * with every field at its RFC 5424 limit, escaped. */
#define LOGS_SYSLOG_FRAME_MAX (LOGS_LINE_MAX + 2048)

/* Write 'l' as one frame into 'out' ('cap' bytes): facility 'facility'
 * (0..23), the severity its stream maps to, HOSTNAME 'hostname', APP-NAME
 * the service, PROCID the pod, MSGID the stream, and the structured data
 * [berth@32473 service= group= pod= stream=]. Header fields keep only
 * printable US-ASCII (others become '_') and are cut at their RFC 5424
 * lengths; an empty one is "-". SD values escape '"', '\' and ']' (§6.3.3).
 * The text goes unchanged as MSG (no BOM). Returns the frame's length, or 0
 * when it does not fit (never with cap >= LOGS_SYSLOG_FRAME_MAX). */
size_t logs_syslog_frame(const struct logs_line *l, int facility, const char *hostname, char *out,
                         size_t cap);

/* Escape an SD-PARAM value: '"', '\' and ']' get a '\' before them.
 * Writes at most 'cap' bytes and stops before a byte whose escape does not
 * fit; returns the bytes written. */
size_t logs_syslog_sd_escape(char *out, size_t cap, const char *s, size_t len);

/* The frame at the start of 'p' ('len' bytes): 0 and *frame_len (the prefix
 * included) when it is all there, ERR_AGAIN when it is cut short, ERR_INVALID
 * when the bytes are not a frame (no digits, a leading zero, no space, a
 * length over LOGS_SYSLOG_FRAME_MAX). */
int logs_syslog_next_frame(const char *p, size_t len, size_t *frame_len);

#endif
