/* tests/install/consumer.c - a program outside the tree built against an installed vmsim. */
#include <stdio.h>
#include <string.h>

#include <vmsim/vmsim.h>

static int fail(const char *how, const char *what, enum vmsim_result result)
{
	fprintf(stderr, "consumer (%s): %s: %s\n", how, what, vmsim_result_name(result));
	return 1;
}

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "unnamed";
	struct vmsim_env *env = NULL;
	enum vmsim_result result = vmsim_env_create(NULL, &env);
	if (result != VMSIM_OK)
		return fail(how, "vmsim_env_create", result);
	/* Registering the built-ins pulls the Unicorn backend (and its libraries) into the link. */
	result = vmsim_register_builtin_backends(env);
	if (result != VMSIM_OK || !vmsim_env_backend(env, "null") || !vmsim_env_backend(env, "unicorn")) {
		vmsim_env_destroy(env);
		return fail(how, "vmsim_register_builtin_backends", result);
	}
	struct vmsim_session_args args = {
		.ram_quota = VMSIM_SESSION_DEFAULT_RAM,
		.cap_quota = VMSIM_SESSION_DEFAULT_CAPS,
		.label = "consumer",
		.backend = "null",
		.model = VMSIM_MODEL_VMX,
	};
	struct vmsim_session *session = NULL;
	result = vmsim_session_open(env, &args, &session);
	if (result != VMSIM_OK) {
		vmsim_env_destroy(env);
		return fail(how, "vmsim_session_open", result);
	}
	int status = strcmp(vmsim_session_label(session), "consumer") == 0 ? 0 : 1;
	vmsim_session_close(session);
	vmsim_env_destroy(env);
	printf("consumer (%s): vmsim %s, session on the null backend %s\n", how, VMSIM_VERSION_STRING,
	       status == 0 ? "opened and closed" : "has the wrong label");
	return status;
}
