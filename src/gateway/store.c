#include "src/gateway/store.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "src/core/log.h"
#include "proto/onifast.h"
#include "src/core/util.h"

struct store_job {
	void (*job)(struct store *st, void *arg);
	void (*done)(void *arg);
	void *arg;
	struct worker *w;
	struct store_job *next;
};

struct store {
	sqlite3 *db;
	pthread_mutex_t db_lock;    /* the CLI and start-up use the db directly; the thread too */
	pthread_t thread;           /* started by store_open, joined by store_close */
	pthread_mutex_t q_lock;
	pthread_cond_t q_cond;
	struct store_job *q_head, **q_tail;
	int quit;
};

/* Each entry upgrades the schema by one version; never edit a released one, add a new one. */
static const char *const migrations[] = {
	"CREATE TABLE Tunnels (subdomain TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, created_at INTEGER NOT NULL);"
	"CREATE TABLE PortForwards (listen_port INTEGER PRIMARY KEY, tunnel_host TEXT, target_port INTEGER,"
	" active BOOLEAN);",
};

static int exec_sql(struct store *st, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : "sqlite error");
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int migrate(struct store *st, char *err, size_t errlen)
{
	sqlite3_stmt *q;
	int version = 0;
	if (exec_sql(st, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);", err, errlen) < 0)
		return -1;
	if (sqlite3_prepare_v2(st->db, "SELECT MAX(version) FROM schema_version", -1, &q, NULL) == SQLITE_OK) {
		if (sqlite3_step(q) == SQLITE_ROW)
			version = sqlite3_column_int(q, 0);
		sqlite3_finalize(q);
	}
	int latest = (int)(sizeof migrations / sizeof *migrations);
	if (version > latest) {
		snprintf(err, errlen, "database schema version %d is newer than this portway (%d)", version, latest);
		return -1;
	}
	for (int v = version; v < latest; v++) {
		char sql[128];
		if (exec_sql(st, "BEGIN", err, errlen) < 0)
			return -1;
		snprintf(sql, sizeof sql, "INSERT INTO schema_version VALUES (%d)", v + 1);
		if (exec_sql(st, migrations[v], err, errlen) < 0 || exec_sql(st, sql, err, errlen) < 0) {
			exec_sql(st, "ROLLBACK", err + strlen(err), 0);
			return -1;
		}
		if (exec_sql(st, "COMMIT", err, errlen) < 0)
			return -1;
	}
	return 0;
}

static void *store_thread(void *arg)
{
	struct store *st = arg;
	pthread_mutex_lock(&st->q_lock);
	for (;;) {
		while (!st->q_head && !st->quit)
			pthread_cond_wait(&st->q_cond, &st->q_lock);
		if (!st->q_head && st->quit)
			break;
		struct store_job *j = st->q_head;
		st->q_head = j->next;
		if (!st->q_head)
			st->q_tail = &st->q_head;
		pthread_mutex_unlock(&st->q_lock);
		j->job(st, j->arg);
		if (j->done)
			worker_post(j->w, j->done, j->arg);
		free(j);
		pthread_mutex_lock(&st->q_lock);
	}
	pthread_mutex_unlock(&st->q_lock);
	return NULL;
}

struct store *store_open(const char *path, char *err, size_t errlen)
{
	struct store *st = xcalloc(1, sizeof *st);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
		sqlite3_close(st->db);
		free(st);
		return NULL;
	}
	sqlite3_busy_timeout(st->db, 2000);
	char e[256] = "";
	if (exec_sql(st, "PRAGMA journal_mode=WAL;", e, sizeof e) < 0 || migrate(st, e, sizeof e) < 0) {
		snprintf(err, errlen, "%s: %s", path, e);
		sqlite3_close(st->db);
		free(st);
		return NULL;
	}
	pthread_mutex_init(&st->db_lock, NULL);
	pthread_mutex_init(&st->q_lock, NULL);
	pthread_cond_init(&st->q_cond, NULL);
	st->q_tail = &st->q_head;
	/* The thread starts here, where a failure can be reported, never lazily on a worker. */
	int rc = pthread_create(&st->thread, NULL, store_thread, st);
	if (rc) {
		snprintf(err, errlen, "%s: cannot start the database thread: %s", path, strerror(rc));
		sqlite3_close(st->db);
		pthread_mutex_destroy(&st->db_lock);
		pthread_mutex_destroy(&st->q_lock);
		pthread_cond_destroy(&st->q_cond);
		free(st);
		return NULL;
	}
	return st;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	/* Jobs still queued run first; each holds what its completion needs. */
	pthread_mutex_lock(&st->q_lock);
	st->quit = 1;
	pthread_cond_signal(&st->q_cond);
	pthread_mutex_unlock(&st->q_lock);
	pthread_join(st->thread, NULL);
	sqlite3_close(st->db);
	free(st);
}

void store_async(struct store *st, struct worker *w, void (*job)(struct store *st, void *arg), void (*done)(void *arg),
		 void *arg)
{
	struct store_job *j = xcalloc(1, sizeof *j);
	j->job = job;
	j->done = done;
	j->arg = arg;
	j->w = w;
	pthread_mutex_lock(&st->q_lock);
	*st->q_tail = j;
	st->q_tail = &j->next;
	pthread_cond_signal(&st->q_cond);
	pthread_mutex_unlock(&st->q_lock);
}

int store_name_valid(const char *name) { return onifast_name_valid(name); }

/* The secret has 256 random bits, so one SHA-256 is as strong as a slow hash here. */
static void secret_hash(const char *secret, char out[7 + 64 + 1])
{
	unsigned char md[32];
	unsigned int len = 0;
	EVP_Digest(secret, strlen(secret), md, &len, EVP_sha256(), NULL);
	strcpy(out, "sha256$");
	for (int i = 0; i < 32; i++)
		sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

int store_tunnel_add(struct store *st, const char *name, char secret[STORE_SECRET_LEN + 1])
{
	unsigned char raw[STORE_SECRET_LEN / 2];
	char hash[7 + 64 + 1];
	sqlite3_stmt *q;
	int rc;
	if (RAND_bytes(raw, sizeof raw) != 1)
		return -2;
	for (size_t i = 0; i < sizeof raw; i++)
		sprintf(secret + 2 * i, "%02x", raw[i]);
	secret_hash(secret, hash);
	pthread_mutex_lock(&st->db_lock);
	if (sqlite3_prepare_v2(st->db, "INSERT INTO Tunnels (subdomain, secret_hash, created_at) VALUES (?, ?, ?)", -1,
			       &q, NULL) != SQLITE_OK) {
		pthread_mutex_unlock(&st->db_lock);
		return -2;
	}
	sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(q, 2, hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 3, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	pthread_mutex_unlock(&st->db_lock);
	if (rc == SQLITE_CONSTRAINT)
		return -1;
	return rc == SQLITE_DONE ? 0 : -2;
}

static int exec_changes(struct store *st, const char *sql, const char *text, int num)
{
	sqlite3_stmt *q;
	int rc, changes;
	pthread_mutex_lock(&st->db_lock);
	if (sqlite3_prepare_v2(st->db, sql, -1, &q, NULL) != SQLITE_OK) {
		pthread_mutex_unlock(&st->db_lock);
		return -2;
	}
	if (text)
		sqlite3_bind_text(q, 1, text, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int(q, 1, num);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	changes = sqlite3_changes(st->db);
	pthread_mutex_unlock(&st->db_lock);
	if (rc != SQLITE_DONE)
		return -2;
	return changes ? 0 : -1;
}

int store_tunnel_del(struct store *st, const char *name)
{
	return exec_changes(st, "DELETE FROM Tunnels WHERE subdomain = ?", name, 0);
}

int store_tunnel_list(struct store *st, void (*each)(void *ctx, const char *name, long created_at), void *ctx)
{
	sqlite3_stmt *q;
	int n = 0;
	pthread_mutex_lock(&st->db_lock);
	if (sqlite3_prepare_v2(st->db, "SELECT subdomain, created_at FROM Tunnels ORDER BY subdomain", -1, &q, NULL) !=
	    SQLITE_OK) {
		pthread_mutex_unlock(&st->db_lock);
		return -1;
	}
	while (sqlite3_step(q) == SQLITE_ROW) {
		each(ctx, (const char *)sqlite3_column_text(q, 0), (long)sqlite3_column_int64(q, 1));
		n++;
	}
	sqlite3_finalize(q);
	pthread_mutex_unlock(&st->db_lock);
	return n;
}

int store_tunnel_check(struct store *st, const char *name, const char *secret)
{
	sqlite3_stmt *q;
	char want[7 + 64 + 1] = "", got[7 + 64 + 1];
	pthread_mutex_lock(&st->db_lock);
	if (sqlite3_prepare_v2(st->db, "SELECT secret_hash FROM Tunnels WHERE subdomain = ?", -1, &q, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
		if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0))
			snprintf(want, sizeof want, "%s", (const char *)sqlite3_column_text(q, 0));
		sqlite3_finalize(q);
	}
	pthread_mutex_unlock(&st->db_lock);
	secret_hash(secret, got);
	/* Hash even when the tunnel is unknown, so timing does not tell which names exist. */
	return strlen(want) == strlen(got) && CRYPTO_memcmp(want, got, strlen(got)) == 0;
}

int store_tunnel_exists(struct store *st, const char *name)
{
	sqlite3_stmt *q;
	int found = -1;
	pthread_mutex_lock(&st->db_lock);
	if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM Tunnels WHERE subdomain = ?", -1, &q, NULL) == SQLITE_OK) {
		sqlite3_bind_text(q, 1, name, -1, SQLITE_TRANSIENT);
		found = sqlite3_step(q) == SQLITE_ROW;
		sqlite3_finalize(q);
	}
	pthread_mutex_unlock(&st->db_lock);
	return found;
}

int store_pf_list(struct store *st, struct port_forward **out, size_t *n)
{
	sqlite3_stmt *q;
	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&st->db_lock);
	if (sqlite3_prepare_v2(st->db,
			       "SELECT listen_port, tunnel_host, target_port, active FROM PortForwards ORDER BY listen_port",
			       -1, &q, NULL) != SQLITE_OK) {
		pthread_mutex_unlock(&st->db_lock);
		return -1;
	}
	while (sqlite3_step(q) == SQLITE_ROW) {
		*out = xrealloc(*out, (*n + 1) * sizeof **out);
		struct port_forward *pf = &(*out)[(*n)++];
		pf->listen_port = sqlite3_column_int(q, 0);
		snprintf(pf->tunnel_host, sizeof pf->tunnel_host, "%s",
			 sqlite3_column_text(q, 1) ? (const char *)sqlite3_column_text(q, 1) : "");
		pf->target_port = sqlite3_column_int(q, 2);
		pf->active = sqlite3_column_int(q, 3);
	}
	sqlite3_finalize(q);
	pthread_mutex_unlock(&st->db_lock);
	return 0;
}

int store_pf_add(struct store *st, const struct port_forward *pf)
{
	sqlite3_stmt *q;
	int rc;
	pthread_mutex_lock(&st->db_lock);
	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO PortForwards (listen_port, tunnel_host, target_port, active) VALUES (?, ?, ?, ?)",
			       -1, &q, NULL) != SQLITE_OK) {
		pthread_mutex_unlock(&st->db_lock);
		return -2;
	}
	sqlite3_bind_int(q, 1, pf->listen_port);
	sqlite3_bind_text(q, 2, pf->tunnel_host, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 3, pf->target_port);
	sqlite3_bind_int(q, 4, pf->active);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	pthread_mutex_unlock(&st->db_lock);
	if (rc == SQLITE_CONSTRAINT)
		return -1;
	return rc == SQLITE_DONE ? 0 : -2;
}

int store_pf_delete(struct store *st, int listen_port)
{
	return exec_changes(st, "DELETE FROM PortForwards WHERE listen_port = ?", NULL, listen_port);
}
