/* billing.h - accounts, their keys and the ledger in the store, and the
 * billing state of the postpaid services they pay for (docs/billing.md).
 * Amounts are integers in fen (1/100 CNY), as TI-ONE prices are. Every
 * freeze, charge, refund and top-up is one ledger row written in the same
 * transaction as the change of the account (and of the service) that caused
 * it, so an account's balance is the sum of its TOPUP minus its CHARGE rows
 * and its frozen sum that of its FREEZE minus its REFUND rows
 * (store_billing_check). Calls follow store.h: any thread, one transaction
 * each, 0 or a negative ERR_* code with 'err' filled. */
#ifndef BERTH_STORE_BILLING_H
#define BERTH_STORE_BILLING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define STORE_AMOUNT_MAX 1000000000000LL /* fen: 10 billion CNY, far from overflow */

/* ------------------------------------------------------------------------ */
/* Accounts and their keys                                                  */

struct store_account {
    char *id; /* acc-xxxxxxxx */
    char *name;
    int64_t balance; /* fen, frozen amounts included */
    int64_t frozen;  /* fen held by running postpaid services */
    char *created_at;
};

void store_account_release(struct store_account *a);
/* ERR_EXISTS when the name (or id) is taken. A positive 'initial' is a
 * first TOPUP row in the same transaction. */
int store_account_create(struct store *st, const char *id, const char *name, int64_t initial,
                         int64_t now_ms, struct err *err);
int store_account_get(struct store *st, const char *id, struct store_account *out, struct err *err);
int store_account_list(struct store *st, struct store_account **out, size_t *n, struct err *err);
/* A credential of an account; ERR_NOTFOUND when the account does not exist. */
int store_account_key_add(struct store *st, const char *account_id, const char *secret_id,
                          const char *secret_key, struct err *err);
/* The account of a credential (heap): "" for the administrator's (root)
 * credentials, made before accounts or by berthd itself. */
int store_credential_account(struct store *st, const char *secret_id, char **account_id,
                             struct err *err);

/* Add 'amount' to the balance (a TOPUP row), then, in the same transaction,
 * resume the account's services stopped for arrears, oldest first, as long
 * as the balance left free covers each one's two-hour freeze. *resumed
 * (heap array of heap ids, may be NULL) lists them. */
int store_account_topup(struct store *st, const char *account_id, int64_t amount, const char *note,
                        int64_t now_ms, char ***resumed, size_t *nresumed, struct err *err);

/* Recompute an account's balance and frozen sum from its ledger rows. */
int store_billing_check(struct store *st, const char *account_id, int64_t *ledger_balance,
                        int64_t *ledger_frozen, struct err *err);

/* ------------------------------------------------------------------------ */
/* The ledger                                                               */

struct store_ledger_row {
    int64_t seq;
    char *account_id;
    char *kind;      /* TOPUP, FREEZE, CHARGE or REFUND */
    int64_t amount;  /* fen, >= 0 */
    int64_t balance; /* the account's, after this row */
    int64_t frozen;
    char *region, *group_id, *service_id; /* "" for a TOPUP */
    char *tags_json;                      /* the group's tags when billing began */
    int64_t price;                        /* fen per instance-hour */
    int64_t instance_ms;                  /* CHARGE: instance-time charged */
    char *note;
    int64_t t_ms; /* Unix ms */
};

void store_ledger_row_release(struct store_ledger_row *r);

struct store_ledger_query {
    const char *account_id;   /* NULL: every account */
    const char *service_id;   /* NULL: any */
    const char *kind;         /* NULL: any */
    int64_t start_ms, end_ms; /* t_ms in [start, end); end 0: no end */
    size_t offset, limit;     /* limit 0: all */
};

/* Rows in order, and in *total how many match. */
int store_ledger_list(struct store *st, const struct store_ledger_query *q,
                      struct store_ledger_row **out, size_t *n, uint64_t *total, struct err *err);

/* What the CHARGE rows of a period add up to, per key. */
enum store_usage_by { STORE_USAGE_ACCOUNT, STORE_USAGE_SERVICE, STORE_USAGE_TAG };

struct store_usage {
    char *key; /* account id, service id, or the tag's value ("" when untagged) */
    int64_t amount;
    int64_t instance_ms;
    int64_t charges; /* rows */
};

void store_usage_release(struct store_usage *u);
int store_billing_usage(struct store *st, enum store_usage_by by, const char *tag_key,
                        const char *account_id, int64_t start_ms, int64_t end_ms,
                        struct store_usage **out, size_t *n, struct err *err);

/* ------------------------------------------------------------------------ */
/* Billed services                                                          */

struct store_billing {
    char *service_id;
    char *account_id;
    char *region;
    char *group_id;
    char *tags_json;
    int64_t price; /* fen per instance-hour, fixed when billing began */
    char *status;  /* BILLING, STOPPED or ARREARS_STOP */
    int64_t frozen;
    int64_t hour_start_ms; /* start of the current billing hour */
    int64_t since_ms;      /* 'instances' have run since then */
    int instances;
    int64_t accrued_ms; /* instance-ms of the current hour before since_ms */
};

void store_billing_release(struct store_billing *b);
int store_billing_get(struct store *st, const char *service_id, struct store_billing *out,
                      struct err *err);
/* The balance an account has free: balance minus frozen. */
int store_account_available(struct store *st, const char *account_id, int64_t *available,
                            struct err *err);

/* Begin billing service b->service_id (which exists) to b->account_id at
 * b->price per instance-hour: freeze 2 hours of price x instances (a FREEZE
 * row). When the free balance does not cover it, the service is stopped
 * instead (replicas 0, stopped, its count kept for a resume) with status
 * ARREARS_STOP, in the same transaction, and the call returns 1. */
int store_billing_start(struct store *st, const struct store_billing *b, int instances,
                        int64_t now_ms, struct err *err);

/* One pass over every billed service at 'now_ms' with billing hours of
 * 'hour_ms': charge each billing hour that ended, by the instance-time used
 * in it; stop for arrears a service whose account cannot cover its next
 * hour; charge the part of an hour and refund the freeze of a service that
 * was stopped or deleted; freeze again for one that was resumed. Each
 * service is one transaction. *stopped (heap, *nstopped entries, each
 * released with store_billing_release) are the services whose desired state
 * this changed: stopped for arrears (also by a freeze a resume could not
 * cover), as they are now. */
int store_billing_tick(struct store *st, int64_t now_ms, int64_t hour_ms,
                       struct store_billing **stopped, size_t *nstopped, struct err *err);

#endif
