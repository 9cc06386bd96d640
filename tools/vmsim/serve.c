/* tools/vmsim/serve.c - `vmsim serve --socket PATH`: VM sessions over RPC until SIGINT or SIGTERM. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include <vmsim/backends.h>
#include <vmsim/vmsim.h>
#include <vmsim/rpc.h>

#include "cli.h"
#include "commands.h"

enum {
	LOG_CLIENTS = 64,         /* clients (and connection threads) with their own log budget; LRU reuse */
	LOG_PER_CLIENT_BURST = 20, /* lines a client's thread may log at once ... */
	LOG_PER_CLIENT_RATE = 5,   /* ... and per second after that */
	LOG_TOTAL_BURST = 200,     /* the same for the whole server */
	LOG_TOTAL_RATE = 50,
	LOG_ESCAPED_MAX = 2048
};

struct log_bucket {
	pthread_t thread; /* whose bucket, where client is 0 */
	uint64_t client;  /* the server's client number, or 0 */
	bool used;
	double tokens;
	int64_t last_ms, heard_ms;
	uint64_t suppressed;
};

/* The server's log sink: untrusted text (labels, backend names) escaped, lines rate-limited per thread
 * (each client is served by its own thread) and in total; suppressed lines are counted, not lost silently. */
struct serve_log {
	pthread_mutex_t lock;
	FILE *err;
	struct log_bucket clients[LOG_CLIENTS];
	struct log_bucket total;
};

static int64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool bucket_take(struct log_bucket *b, int64_t now, double rate, double burst)
{
	if (!b->used) {
		b->used = true;
		b->tokens = burst;
		b->last_ms = now;
	}
	b->tokens += (double)(now - b->last_ms) * rate / 1000.0;
	if (b->tokens > burst)
		b->tokens = burst;
	b->last_ms = now;
	if (b->tokens < 1.0) {
		b->suppressed++;
		return false;
	}
	b->tokens -= 1.0;
	return true;
}

/* Under log->lock: the bucket of a client (client > 0: what its sessions caused, from any of its threads) or of
 * a thread (client 0: a connection thread's own requests); the least recently heard one is reused. */
static struct log_bucket *bucket_of(struct serve_log *log, uint64_t client, pthread_t self, int64_t now)
{
	struct log_bucket *mine = NULL, *oldest = &log->clients[0];
	for (unsigned i = 0; i < LOG_CLIENTS && !mine; i++) {
		struct log_bucket *b = &log->clients[i];
		if (b->used && b->client == client && (client || pthread_equal(b->thread, self)))
			mine = b;
		else if (!b->used || (oldest->used && b->heard_ms < oldest->heard_ms))
			oldest = b;
	}
	if (!mine) {
		mine = oldest;
		*mine = (struct log_bucket){.thread = self, .client = client};
	}
	mine->heard_ms = now;
	return mine;
}

static void serve_log_line(struct serve_log *log, uint64_t client, const char *message)
{
	int64_t now = monotonic_ms();
	pthread_mutex_lock(&log->lock);
	struct log_bucket *mine = bucket_of(log, client, pthread_self(), now);
	uint64_t before = mine->suppressed;
	if (bucket_take(mine, now, LOG_PER_CLIENT_RATE, LOG_PER_CLIENT_BURST) &&
	    bucket_take(&log->total, now, LOG_TOTAL_RATE, LOG_TOTAL_BURST)) {
		char text[LOG_ESCAPED_MAX];
		vmsim_log_escape(message, text, sizeof text);
		if (before)
			fprintf(log->err, "vmsim serve: %" PRIu64 " earlier messages of this client suppressed\n", before);
		if (log->total.suppressed)
			fprintf(log->err, "vmsim serve: %" PRIu64 " earlier messages suppressed in total\n",
			        log->total.suppressed);
		if (client)
			fprintf(log->err, "vmsim: client %" PRIu64 ": %s\n", client, text);
		else
			fprintf(log->err, "vmsim: %s\n", text);
		mine->suppressed = 0;
		log->total.suppressed = 0;
	}
	pthread_mutex_unlock(&log->lock);
}

static void serve_log_sink(void *ctx, enum vmsim_log_level level, const char *message)
{
	(void)level;
	serve_log_line(ctx, 0, message);
}

/* What a client's sessions cause, from its vCPU threads too: one budget per client, not per thread. */
static void serve_client_log(void *ctx, uint64_t client, enum vmsim_log_level level, const char *message)
{
	(void)level;
	serve_log_line(ctx, client ? client : UINT64_MAX, message);
}

/* At the stop: what the limits held back, so that no flood goes unreported. */
static void serve_log_flush(struct serve_log *log)
{
	uint64_t held = log->total.suppressed;
	for (unsigned i = 0; i < LOG_CLIENTS; i++)
		held += log->clients[i].suppressed;
	if (held)
		fprintf(log->err, "vmsim serve: %" PRIu64 " log messages suppressed by the rate limits\n", held);
}

/* What the command line said (0: the default). */
struct serve_args {
	const char *socket_path;
	uint64_t ram_pool, client_ram, client_caps, max_clients, idle_timeout, frame_timeout;
	uint64_t client_threads, client_fds, max_threads, max_fds, host_ram;
};

/* The limits the options may give; false with a message. */
static bool serve_args_valid(const struct serve_args *a, FILE *err)
{
	if (!a->socket_path || a->max_clients > 100000) {
		fprintf(err, "vmsim serve: %s\n", a->socket_path ? "--max-clients is at most 100000" : "--socket PATH is required");
		return false;
	}
	if (a->client_threads > UINT32_MAX || a->client_fds > UINT32_MAX || a->max_threads > UINT32_MAX ||
	    a->max_fds > UINT32_MAX) {
		fprintf(err, "vmsim serve: thread and fd limits are at most %u\n", UINT32_MAX);
		return false;
	}
	if (a->idle_timeout > 86400000 || a->frame_timeout > 86400000) {
		fprintf(err, "vmsim serve: --idle-timeout and --frame-timeout are at most 86400000 ms\n");
		return false;
	}
	return true;
}

/* Explicit budgets may over-commit the totals: then one client can make another's request fail. Say so. */
static void warn_overcommit(const struct serve_args *a, struct vmsim_env *env, FILE *err)
{
	uint64_t clients = a->max_clients ? a->max_clients : 64;
	struct vmsim_quota pool;
	vmsim_env_quota(env, &pool);
	if ((a->client_ram && a->client_ram > pool.ram_limit / clients) || (a->client_threads && a->max_threads &&
	    a->client_threads + 1 > a->max_threads / clients) || (a->client_fds && a->max_fds &&
	    a->client_fds + 1 > a->max_fds / clients))
		fprintf(err, "vmsim serve: warning: the per-client budgets times --max-clients exceed the server's "
		        "totals; clients can exhaust each other's share\n");
}

/* The env with the built-in backends and the server on it; OK or why not (env may be set either way). */
static enum vmsim_result serve_start(const struct serve_args *a, struct serve_log *log, struct vmsim_env **env,
                                     struct vmsim_rpc_server **server)
{
	struct vmsim_env_config env_cfg = {.ram_pool = a->ram_pool, .log = serve_log_sink, .log_ctx = log,
	                                   .log_level = VMSIM_LOG_WARN};
	enum vmsim_result r = vmsim_env_create(&env_cfg, env);
	if (r == VMSIM_OK)
		r = vmsim_register_builtin_backends(*env);
	struct vmsim_rpc_server_config cfg = {
		.socket_path = a->socket_path,
		.client = {.ram = a->client_ram, .caps = a->client_caps},
		.max_clients = (unsigned)a->max_clients,
		.idle_timeout_ms = (unsigned)a->idle_timeout,
		.frame_timeout_ms = (unsigned)a->frame_timeout,
		.max_threads = (uint32_t)a->max_threads,
		.max_fds = (uint32_t)a->max_fds,
		.host_ram = a->host_ram,
		.client_log = serve_client_log,
		.client_log_ctx = log,
	};
	cfg.client.threads = (uint32_t)a->client_threads;
	cfg.client.fds = (uint32_t)a->client_fds;
	if (r == VMSIM_OK)
		r = vmsim_rpc_server_start(*env, &cfg, server);
	return r;
}

int cmd_serve(int argc, char **argv, const struct cli_io *io)
{
	struct serve_args a = {0};
	const struct cli_opt opts[] = {
		{"socket", 's', CLI_OPT_STRING, &a.socket_path, "PATH", "UNIX socket to listen on (required)"},
		{"ram-pool", 0, CLI_OPT_U64, &a.ram_pool, "BYTES", "RAM all clients together may use (default 1 GiB)"},
		{"client-ram", 0, CLI_OPT_U64, &a.client_ram, "BYTES", "RAM budget of each client, backend host RAM included "
		 "(default: ram-pool / max-clients)"},
		{"client-caps", 0, CLI_OPT_U64, &a.client_caps, "N", "capability budget of each client (default 1000)"},
		{"max-clients", 0, CLI_OPT_U64, &a.max_clients, "N", "concurrent clients; more are refused (default 64)"},
		{"idle-timeout", 0, CLI_OPT_U64, &a.idle_timeout, "MS", "close a client silent between frames this long "
		 "(default 300000)"},
		{"frame-timeout", 0, CLI_OPT_U64, &a.frame_timeout, "MS", "close a client whose frame or reply takes longer "
		 "(default 10000)"},
		{"max-threads", 0, CLI_OPT_U64, &a.max_threads, "N", "host threads of all clients together (default 4096)"},
		{"max-fds", 0, CLI_OPT_U64, &a.max_fds, "N", "host fds of all clients together (default RLIMIT_NOFILE - 64)"},
		{"host-ram", 0, CLI_OPT_U64, &a.host_ram, "BYTES", "backend host RAM of all clients (default: ram-pool)"},
		{"client-threads", 0, CLI_OPT_U64, &a.client_threads, "N", "host threads of each client's vCPUs "
		 "(default: its share of max-threads)"},
		{"client-fds", 0, CLI_OPT_U64, &a.client_fds, "N", "host fds of each client's VMs and vCPUs "
		 "(default: its share of max-fds)"},
	};
	const struct cli_spec spec = {
		.command = "serve",
		.description = "Serve VM sessions over the RPC protocol of docs/rpc.md, one capability space per client. "
		               "A client's disconnect destroys its objects. Runs until SIGINT or SIGTERM.",
		.opts = opts,
		.opt_count = sizeof opts / sizeof opts[0],
	};
	int first;
	enum cli_parse_result parsed = cli_parse(&spec, argc, argv, io, &first);
	if (parsed != CLI_PARSE_OK)
		return cli_parse_exit(parsed);
	if (!serve_args_valid(&a, io->err))
		return CLI_EXIT_USAGE;

	/* every thread the server starts inherits this mask: the signals reach only sigwait below */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	struct serve_log log = {.err = io->err};
	pthread_mutex_init(&log.lock, NULL);
	struct vmsim_env *env = NULL;
	struct vmsim_rpc_server *server = NULL;
	enum vmsim_result r = serve_start(&a, &log, &env, &server);
	if (r != VMSIM_OK) {
		fprintf(io->err, "vmsim serve: cannot serve on %s: %s\n", a.socket_path, vmsim_result_text(r));
		vmsim_env_destroy(env);
		pthread_mutex_destroy(&log.lock);
		return CLI_EXIT_FAILURE;
	}
	warn_overcommit(&a, env, io->err);
	fprintf(io->out, "vmsim serve: listening on %s\n", a.socket_path);
	fflush(io->out);

	int signal_number = 0;
	sigwait(&stop_signals, &signal_number);
	vmsim_rpc_server_stop(server);
	serve_log_flush(&log);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	fprintf(io->out, "vmsim serve: stopped by signal %d; env quota used %" PRIu64 " bytes, %" PRIu64 " caps\n",
	        signal_number, quota.ram_used, quota.cap_used);
	vmsim_env_destroy(env);
	pthread_mutex_destroy(&log.lock);
	return quota.ram_used == 0 && quota.cap_used == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}
