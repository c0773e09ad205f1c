/* users: see users.h. */
#include "fs/users.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* mountinfo escapes ' ', '\t', '\n' and '\\' as octal (\040 ...) */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p;) {
        if (p[0] == '\\' && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
            isdigit((unsigned char)p[3])) {
            *o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
            p += 4;
        } else {
            *o++ = *p++;
        }
    }
    *o = 0;
}

/* The last mount at mp: its id and device numbers. */
static int find_mount(const char *mp, long *id, unsigned *major, unsigned *minor)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return -1;
    char line[PATH_MAX * 2 + 256];
    int found = -1;
    while (fgets(line, sizeof line, f)) {
        long mid, parent;
        unsigned ma, mi;
        char root[PATH_MAX], point[PATH_MAX];
        if (sscanf(line, "%ld %ld %u:%u %4095s %4095s", &mid, &parent, &ma, &mi, root, point) != 6)
            continue;
        unescape(point);
        if (strcmp(point, mp))
            continue;
        *id = mid, *major = ma, *minor = mi;
        found = 0; /* keep reading: the last one is on top */
    }
    fclose(f);
    return found;
}

bool bl_mount_bitlib_at(const char *mp, void (*fn)(const char *mp, void *arg), void *arg)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return false;
    char line[PATH_MAX * 2 + 256];
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        char root[PATH_MAX], point[PATH_MAX], fstype[64];
        const char *dash = strstr(line, " - ");
        if (!dash || sscanf(line, "%*d %*d %*u:%*u %4095s %4095s", root, point) != 2 ||
            sscanf(dash + 3, "%63s", fstype) != 1 || strcmp(fstype, "fuse.bitlib"))
            continue;
        unescape(point);
        if (fn)
            fn(point, arg);
        else if (!strcmp(point, mp))
            found = true;
    }
    fclose(f);
    return found;
}

static bool path_under(const char *p, const char *mp)
{
    size_t n = strlen(mp);
    return strncmp(p, mp, n) == 0 && (p[n] == 0 || p[n] == '/');
}

/* Uses by one process: fds on the mount, distinct mapped inodes of its
 * device, cwd and root inside it.  -1 if the process could not be read. */
static int count_process(const char *pid, long id, unsigned major, unsigned minor,
                         const char *mp)
{
    char path[64], buf[PATH_MAX];
    int uses = 0;
    snprintf(path, sizeof path, "/proc/%s/fdinfo", pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char fp[96];
        snprintf(fp, sizeof fp, "/proc/%s/fdinfo/%.20s", pid, de->d_name);
        FILE *f = fopen(fp, "re");
        if (!f)
            continue;
        long m;
        while (fgets(buf, sizeof buf, f))
            if (sscanf(buf, "mnt_id: %ld", &m) == 1) {
                uses += m == id;
                break;
            }
        fclose(f);
    }
    closedir(d);
    snprintf(path, sizeof path, "/proc/%s/maps", pid);
    FILE *f = fopen(path, "re");
    if (f) {
        unsigned long last_ino = 0;
        while (fgets(buf, sizeof buf, f)) {
            unsigned ma, mi;
            unsigned long ino;
            if (sscanf(buf, "%*s %*s %*s %x:%x %lu", &ma, &mi, &ino) == 3 && ma == major &&
                mi == minor && ino && ino != last_ino) {
                uses++; /* a library's segments are adjacent: count it once */
                last_ino = ino;
            }
        }
        fclose(f);
    }
    static const char *const links[] = {"cwd", "root"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/proc/%s/%s", pid, links[i]);
        ssize_t n = readlink(path, buf, sizeof buf - 1);
        if (n > 0) {
            buf[n] = 0;
            uses += path_under(buf, mp);
        }
    }
    return uses;
}

int bl_mount_users_count(const char *mp, bl_mount_users *u, bl_err *err)
{
    memset(u, 0, sizeof *u);
    long id;
    unsigned major, minor;
    if (find_mount(mp, &id, &major, &minor) < 0)
        return bl_fail(err, "%s is not mounted", mp);
    DIR *d = opendir("/proc");
    if (!d)
        return bl_fail(err, "/proc: %s", strerror(errno));
    char self[24];
    snprintf(self, sizeof self, "%d", (int)getpid());
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]) || !strcmp(de->d_name, self))
            continue;
        int n = count_process(de->d_name, id, major, minor, mp);
        if (n < 0) {
            u->partial |= errno == EACCES || errno == EPERM;
            continue;
        }
        if (n == 0)
            continue;
        u->files += (unsigned)n;
        if (u->processes++ == 0) {
            u->example_pid = (pid_t)atol(de->d_name);
            char path[64];
            snprintf(path, sizeof path, "/proc/%s/comm", de->d_name);
            FILE *f = fopen(path, "re");
            if (f) {
                if (fgets(u->example_comm, sizeof u->example_comm, f))
                    u->example_comm[strcspn(u->example_comm, "\n")] = 0;
                fclose(f);
            }
        }
    }
    closedir(d);
    return 0;
}

void bl_mount_users_text(const bl_mount_users *u, char *out, size_t outsz)
{
    if (!u->processes) {
        snprintf(out, outsz, "%s", u->partial ? "by processes of other users" : "by something");
        return;
    }
    snprintf(out, outsz, "%s%u open file%s in %u process%s, e.g. pid %d (%s)",
             u->partial ? "at least " : "", u->files, u->files == 1 ? "" : "s", u->processes,
             u->processes == 1 ? "" : "es", (int)u->example_pid, u->example_comm);
}
