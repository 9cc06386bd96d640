/* tools/vmsim/serve.c - `vmsim serve --socket PATH`: VM sessions over RPC until SIGINT or SIGTERM. */
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>

#include <vmsim/backends.h>
#include <vmsim/vmsim.h>
#include <vmsim/rpc.h>

#include "cli.h"
#include "commands.h"

int cmd_serve(int argc, char **argv, const struct cli_io *io)
{
	const char *socket_path = NULL;
	uint64_t ram_pool = 0, client_ram = 0, client_caps = 0, max_clients = 0;
	const struct cli_opt opts[] = {
		{"socket", 's', CLI_OPT_STRING, &socket_path, "PATH", "UNIX socket to listen on (required)"},
		{"ram-pool", 0, CLI_OPT_U64, &ram_pool, "BYTES", "RAM all clients together may use (default 1 GiB)"},
		{"client-ram", 0, CLI_OPT_U64, &client_ram, "BYTES", "RAM budget of each client (default 64 MiB)"},
		{"client-caps", 0, CLI_OPT_U64, &client_caps, "N", "capability budget of each client (default 1000)"},
		{"max-clients", 0, CLI_OPT_U64, &max_clients, "N", "concurrent clients; more are refused (default 64)"},
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
	if (!socket_path || max_clients > 100000) {
		fprintf(io->err, "vmsim serve: %s\n", socket_path ? "--max-clients is at most 100000" : "--socket PATH is required");
		return CLI_EXIT_USAGE;
	}

	/* every thread the server starts inherits this mask: the signals reach only sigwait below */
	sigset_t stop_signals;
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);

	struct vmsim_env_config env_cfg = {.ram_pool = ram_pool};
	struct vmsim_env *env = NULL;
	enum vmsim_result r = vmsim_env_create(&env_cfg, &env);
	if (r == VMSIM_OK)
		r = vmsim_register_builtin_backends(env);
	struct vmsim_rpc_server *server = NULL;
	struct vmsim_rpc_server_config cfg = {
		.socket_path = socket_path,
		.client = {.ram = client_ram, .caps = client_caps},
		.max_clients = (unsigned)max_clients,
	};
	if (r == VMSIM_OK)
		r = vmsim_rpc_server_start(env, &cfg, &server);
	if (r != VMSIM_OK) {
		fprintf(io->err, "vmsim serve: cannot serve on %s: %s\n", socket_path, vmsim_result_text(r));
		vmsim_env_destroy(env);
		return CLI_EXIT_FAILURE;
	}
	fprintf(io->out, "vmsim serve: listening on %s\n", socket_path);
	fflush(io->out);

	int signal_number = 0;
	sigwait(&stop_signals, &signal_number);
	vmsim_rpc_server_stop(server);
	struct vmsim_quota quota;
	vmsim_env_quota(env, &quota);
	fprintf(io->out, "vmsim serve: stopped by signal %d; env quota used %" PRIu64 " bytes, %" PRIu64 " caps\n",
	        signal_number, quota.ram_used, quota.cap_used);
	vmsim_env_destroy(env);
	return quota.ram_used == 0 && quota.cap_used == 0 ? CLI_EXIT_OK : CLI_EXIT_FAILURE;
}
