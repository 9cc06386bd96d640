/* fuzz/replay_main.c - a target without libFuzzer: replay files, then optionally mutate for a bounded time. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_target.h"

/*
 * Usage: TARGET_replay [-t SECONDS] [-s SEED] [-o CRASH_DIR] [-n NAME] PATH...
 * Every file (directories: their files) runs once; with -t, inputs mutated from
 * them run until SECONDS pass. If a mutated input kills the process, the death
 * hook writes it to a crash file in CRASH_DIR and prints the one-line
 * reproduction (no file per execution: that costs more than most targets).
 * Test code: statics are fine here.
 */
enum { INPUT_LIMIT = 1 << 16, SEED_LIMIT = 4096 };

static struct {
	uint8_t *data[SEED_LIMIT];
	size_t size[SEED_LIMIT];
	size_t count;
} seeds;

static char crash_path[4096], repro_line[8192];
static const uint8_t *volatile current;
static volatile size_t current_len;
static const char *self_path = "";

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Async-signal-safe: keep the input that killed us and say how to run it again. */
static void on_death(void)
{
	static volatile sig_atomic_t once;
	if (once || !current)
		return;
	once = 1;
	int fd = open(crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return;
	(void)!write(fd, (const void *)current, current_len);
	close(fd);
	(void)!write(2, repro_line, strlen(repro_line));
}

static void on_signal(int sig)
{
	on_death();
	signal(sig, SIG_DFL);
	raise(sig);
}

void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static bool load_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	uint8_t *buf = malloc(INPUT_LIMIT);
	size_t n = buf ? fread(buf, 1, INPUT_LIMIT, f) : 0;
	fclose(f);
	if (!buf)
		return false;
	LLVMFuzzerTestOneInput(buf, n);
	if (seeds.count < SEED_LIMIT) {
		seeds.data[seeds.count] = buf;
		seeds.size[seeds.count++] = n;
	} else {
		free(buf);
	}
	return true;
}

static unsigned load_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return 0;
	if (!S_ISDIR(st.st_mode))
		return load_file(path);
	DIR *dir = opendir(path);
	unsigned n = 0;
	for (struct dirent *e; dir && (e = readdir(dir));) {
		if (e->d_name[0] == '.')
			continue;
		char child[4096];
		snprintf(child, sizeof child, "%s/%s", path, e->d_name);
		if (stat(child, &st) == 0 && S_ISREG(st.st_mode))
			n += load_file(child);
	}
	if (dir)
		closedir(dir);
	return n;
}

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A few of libFuzzer's mutations: flip, set, interesting values, insert, erase, splice. */
static size_t mutate(uint8_t *buf, size_t n, uint64_t *rng)
{
	static const uint8_t interesting[] = {0, 1, 0x7f, 0x80, 0xff, 0x10, 0x20, 0x40};
	unsigned rounds = 1 + next(rng) % 4;
	for (unsigned i = 0; i < rounds; i++) {
		size_t at = n ? next(rng) % n : 0;
		switch (next(rng) % 6) {
		case 0:
			if (n)
				buf[at] ^= (uint8_t)(1u << (next(rng) % 8));
			break;
		case 1:
			if (n)
				buf[at] = (uint8_t)next(rng);
			break;
		case 2:
			if (n)
				buf[at] = interesting[next(rng) % sizeof interesting];
			break;
		case 3:
			if (n < INPUT_LIMIT) {
				memmove(buf + at + 1, buf + at, n - at);
				buf[at] = (uint8_t)next(rng);
				n++;
			}
			break;
		case 4:
			if (n) {
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
			}
			break;
		default: {
			size_t other = next(rng) % seeds.count, len = seeds.size[other];
			size_t from = len ? next(rng) % len : 0, take = len - from;
			if (take > INPUT_LIMIT - at)
				take = INPUT_LIMIT - at;
			memcpy(buf + at, seeds.data[other] + from, take);
			if (at + take > n)
				n = at + take;
		}
		}
	}
	return n;
}

static void run_mutations(double seconds, uint64_t seed, const char *crash_dir, const char *name)
{
	if (!seeds.count)
		return;
	uint8_t *buf = malloc(INPUT_LIMIT);
	uint64_t rng = seed | 1, execs = 0;
	snprintf(crash_path, sizeof crash_path, "%s/crash-%s-%llu", crash_dir, name, (unsigned long long)seed);
	snprintf(repro_line, sizeof repro_line, "\nreproduce: %s %s\n", self_path, crash_path);
	struct timespec start, now;
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		size_t pick = next(&rng) % seeds.count, n = seeds.size[pick];
		memcpy(buf, seeds.data[pick], n);
		n = mutate(buf, n, &rng);
		current = buf;
		current_len = n;
		LLVMFuzzerTestOneInput(buf, n);
		execs++;
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while ((double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9 < seconds);
	current = NULL;
	double took = (double)(now.tv_sec - start.tv_sec) + (double)(now.tv_nsec - start.tv_nsec) / 1e9;
	printf("%s: %llu mutated inputs in %.1f s (%.0f/s), seed %llu, no crash\n", name, (unsigned long long)execs,
	       took, (double)execs / took, (unsigned long long)seed);
	free(buf);
}

int main(int argc, char **argv)
{
	double seconds = 0;
	uint64_t seed = (uint64_t)time(NULL);
	const char *crash_dir = ".", *name = "target";
	int opt;
	self_path = argv[0];
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	while ((opt = getopt(argc, argv, "t:s:o:n:")) != -1) {
		switch (opt) {
		case 't': seconds = atof(optarg); break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 'o': crash_dir = optarg; break;
		case 'n': name = optarg; break;
		default:
			fprintf(stderr, "usage: %s [-t SECONDS] [-s SEED] [-o CRASH_DIR] [-n NAME] PATH...\n", argv[0]);
			return 2;
		}
	}
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(on_death);
	signal(SIGSEGV, on_signal);
	signal(SIGABRT, on_signal);
	signal(SIGILL, on_signal);
	signal(SIGBUS, on_signal);
	signal(SIGFPE, on_signal);
	unsigned files = 0;
	for (int i = optind; i < argc; i++)
		files += load_path(argv[i]);
	printf("%s: replayed %u inputs\n", name, files);
	if (seconds > 0)
		run_mutations(seconds, seed, crash_dir, name);
	for (size_t i = 0; i < seeds.count; i++)
		free(seeds.data[i]);
	return files ? 0 : 1; /* an empty or missing corpus is a broken test, not a pass */
}
