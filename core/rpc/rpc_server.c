/* core/rpc/rpc_server.c - `vmsim serve`'s engine: a UNIX socket, one thread and one client space per connection. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "rpc_client.h"
#include "rpc_io.h"

enum { DEFAULT_MAX_CLIENTS = 64, REAP_INTERVAL_MS = 100 };

struct conn {
	struct vmsim_rpc_server *server;
	struct conn *next, *prev;
	pthread_t thread;
	int fd;
	bool finished; /* under server->lock: the thread has returned everything and may be joined */
};

struct vmsim_rpc_server {
	struct vmsim_env *env;
	struct vmsim_rpc_server_config cfg;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int listen_fd;
	int stop_pipe[2];
	pthread_t acceptor;
	pthread_mutex_t lock;
	struct conn *conns;
	unsigned count;
};

/* Answer one frame whose framing is lost: the client learns why before the close. */
static void refuse_frame(int fd, const uint8_t *header)
{
	struct vmsim_rpc_reply reply = {.result = VMSIM_DENIED};
	reply.op = (uint16_t)(header[6] | header[7] << 8) & (uint16_t)~VMSIM_RPC_REPLY_BIT;
	reply.seq = (uint32_t)header[8] | (uint32_t)header[9] << 8 | (uint32_t)header[10] << 16 |
	            (uint32_t)header[11] << 24;
	uint8_t buf[VMSIM_RPC_HEADER_SIZE + 4];
	size_t len;
	if (vmsim_rpc_encode_reply(&reply, buf, sizeof buf, &len) == VMSIM_OK)
		(void)io_write_full(fd, buf, len);
}

/* Serve one client until it disconnects, loses framing or the server stops. */
static void serve_client(struct conn *conn, struct vmsim_rpc_client *client)
{
	struct vmsim_env *env = conn->server->env;
	uint8_t *frame = vmsim_env_alloc(env, VMSIM_RPC_MAX_FRAME);
	uint8_t *reply = vmsim_env_alloc(env, VMSIM_RPC_MAX_FRAME);
	while (frame && reply) {
		size_t len, reply_len;
		if (!io_read_full(conn->fd, frame, VMSIM_RPC_HEADER_SIZE))
			break;
		if (vmsim_rpc_frame_length(frame, VMSIM_RPC_HEADER_SIZE, &len) != VMSIM_OK) {
			refuse_frame(conn->fd, frame);
			break;
		}
		if (!io_read_full(conn->fd, frame + VMSIM_RPC_HEADER_SIZE, len - VMSIM_RPC_HEADER_SIZE))
			break;
		(void)vmsim_rpc_client_handle(client, frame, len, reply, &reply_len);
		if (reply_len == 0 || !io_write_full(conn->fd, reply, reply_len))
			break;
	}
	if (frame)
		vmsim_env_free(env, frame, VMSIM_RPC_MAX_FRAME);
	if (reply)
		vmsim_env_free(env, reply, VMSIM_RPC_MAX_FRAME);
}

static void *conn_main(void *arg)
{
	struct conn *conn = arg;
	struct vmsim_rpc_server *server = conn->server;
	struct vmsim_rpc_client *client;
	if (vmsim_rpc_client_create(server->env, &server->cfg.client, &client) == VMSIM_OK) {
		serve_client(conn, client);
		/* disconnect: every session closed, every dataspace freed, the budget back */
		vmsim_rpc_client_destroy(client);
	}
	pthread_mutex_lock(&server->lock);
	shutdown(conn->fd, SHUT_RDWR);
	conn->finished = true;
	pthread_mutex_unlock(&server->lock);
	return NULL;
}

/* Join connections whose thread has finished; all of them when everything is stopping. */
static void reap(struct vmsim_rpc_server *server, bool all)
{
	pthread_mutex_lock(&server->lock);
	for (struct conn *c = server->conns, *next; c; c = next) {
		next = c->next;
		if (all)
			shutdown(c->fd, SHUT_RDWR); /* unblocks its read: the thread tears the client down */
		if (!all && !c->finished)
			continue;
		CLIENT_UNLINK(server->conns, c);
		server->count--;
		pthread_mutex_unlock(&server->lock);
		pthread_join(c->thread, NULL);
		close(c->fd);
		vmsim_env_free(server->env, c, sizeof *c);
		pthread_mutex_lock(&server->lock);
		next = server->conns;
	}
	pthread_mutex_unlock(&server->lock);
}

static void admit(struct vmsim_rpc_server *server, int fd)
{
	pthread_mutex_lock(&server->lock);
	bool full = server->count >= server->cfg.max_clients;
	pthread_mutex_unlock(&server->lock);
	struct conn *conn = full ? NULL : vmsim_env_alloc(server->env, sizeof *conn);
	if (!conn) {
		close(fd);
		return;
	}
	conn->server = server;
	conn->fd = fd;
	pthread_mutex_lock(&server->lock);
	if (pthread_create(&conn->thread, NULL, conn_main, conn) != 0) {
		pthread_mutex_unlock(&server->lock);
		close(fd);
		vmsim_env_free(server->env, conn, sizeof *conn);
		return;
	}
	CLIENT_LINK(server->conns, conn);
	server->count++;
	pthread_mutex_unlock(&server->lock);
}

static void *accept_main(void *arg)
{
	struct vmsim_rpc_server *server = arg;
	for (;;) {
		struct pollfd fds[2] = {{server->listen_fd, POLLIN, 0}, {server->stop_pipe[0], POLLIN, 0}};
		int n = poll(fds, 2, REAP_INTERVAL_MS);
		reap(server, false);
		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (fds[1].revents)
			break;
		if (fds[0].revents & POLLIN) {
			int fd = accept4(server->listen_fd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				admit(server, fd);
		}
	}
	return NULL;
}

static enum vmsim_result bind_socket(struct vmsim_rpc_server *server)
{
	struct stat st;
	if (lstat(server->path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return VMSIM_DENIED; /* never unlink what is not a socket */
		unlink(server->path);
	}
	server->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (server->listen_fd < 0)
		return VMSIM_BACKEND_ERROR;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	memcpy(addr.sun_path, server->path, sizeof addr.sun_path);
	if (bind(server->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(server->listen_fd, 16) != 0) {
		close(server->listen_fd);
		return VMSIM_DENIED;
	}
	return VMSIM_OK;
}

enum vmsim_result vmsim_rpc_server_start(struct vmsim_env *env, const struct vmsim_rpc_server_config *cfg,
                                         struct vmsim_rpc_server **out)
{
	if (!env || !cfg || !cfg->socket_path || !out)
		return VMSIM_INVALID_ARGUMENT;
	*out = NULL;
	struct vmsim_rpc_server *server = vmsim_env_alloc(env, sizeof *server);
	if (!server)
		return VMSIM_OUT_OF_RAM;
	enum vmsim_result r = VMSIM_INVALID_ARGUMENT;
	size_t path_len = strlen(cfg->socket_path);
	if (path_len == 0 || path_len >= sizeof server->path)
		goto free_server;
	memcpy(server->path, cfg->socket_path, path_len + 1);
	server->env = env;
	server->cfg = *cfg;
	server->cfg.socket_path = server->path;
	if (!server->cfg.max_clients)
		server->cfg.max_clients = DEFAULT_MAX_CLIENTS;
	r = VMSIM_BACKEND_ERROR;
	if (pipe2(server->stop_pipe, O_CLOEXEC) != 0)
		goto free_server;
	if ((r = bind_socket(server)) != VMSIM_OK)
		goto close_pipe;
	pthread_mutex_init(&server->lock, NULL);
	if (pthread_create(&server->acceptor, NULL, accept_main, server) != 0) {
		r = VMSIM_BACKEND_ERROR;
		pthread_mutex_destroy(&server->lock);
		close(server->listen_fd);
		unlink(server->path);
		goto close_pipe;
	}
	*out = server;
	return VMSIM_OK;

close_pipe:
	close(server->stop_pipe[0]);
	close(server->stop_pipe[1]);
free_server:
	vmsim_env_free(env, server, sizeof *server);
	return r;
}

void vmsim_rpc_server_stop(struct vmsim_rpc_server *server)
{
	if (!server)
		return;
	(void)!write(server->stop_pipe[1], "x", 1);
	pthread_join(server->acceptor, NULL);
	reap(server, true);
	close(server->listen_fd);
	unlink(server->path);
	close(server->stop_pipe[0]);
	close(server->stop_pipe[1]);
	pthread_mutex_destroy(&server->lock);
	vmsim_env_free(server->env, server, sizeof *server);
}
