/* bitlib keygen, bitlib sign, bitlib verify: thin fronts on meta/sign. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/sha1.h"
#include "meta/sign.h"

static const char keygen_usage[] =
    "usage: bitlib keygen -o KEY\n"
    "\n"
    "Make an Ed25519 key pair for signing description files: KEY, the private key (PEM,\n"
    "mode 0600), and KEY.pub, the public key to install on the nodes (in\n"
    "/etc/bitlib/trusted.d/, or name it with --trust). Existing files are never\n"
    "overwritten. Prints the key's fingerprint.\n"
    "\n"
    "options:\n"
    "  -o, --output KEY  where to write the private key (KEY.pub beside it; required)\n"
    "  -h, --help        this text\n";

static const char sign_usage[] =
    "usage: bitlib sign DESC --key KEY [-o OUT]\n"
    "\n"
    "Sign the description file DESC with the private key KEY (from bitlib keygen): the\n"
    "signature covers its info-hash (the files, their modes, mtimes, directories and\n"
    "symlinks) and its per-job section (mount point, prefetch list, environment). It is\n"
    "stored outside the info dictionary, so the info-hash does not change and stock\n"
    "clients still read the file. An existing signature is replaced.\n"
    "\n"
    "options:\n"
    "  -k, --key KEY     the private key (required)\n"
    "  -o, --output OUT  write the signed description here (default: replace DESC)\n"
    "  -q, --quiet       no summary line\n"
    "  -h, --help        this text\n";

static const char verify_usage[] =
    "usage: bitlib verify DESC [--trust PUB]...\n"
    "\n"
    "Check that DESC is signed by a trusted key over its info-hash and per-job section,\n"
    "as bitlib mount, fetch, seed and run do on a node with trusted keys. Prints one line:\n"
    "the signing key's fingerprint, or which check failed (unsigned, signed by an\n"
    "untrusted key, signature does not match, per-job section altered).\n"
    "\n"
    "options:\n"
    "      --trust PUB   a trusted public key (KEY.pub), or a directory of *.pub keys;\n"
    "                    repeatable. Default: the keys in /etc/bitlib/trusted.d/\n"
    "                    ($BITLIB_TRUST_DIR instead when set)\n"
    "  -h, --help        this text\n"
    "\n"
    "Exit status: 0 good signature by a trusted key, 1 refused, 2 bad usage or no\n"
    "trusted keys at all.\n";

int cmd_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *out = NULL;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': fputs(keygen_usage, stdout); return 0;
        default: return cli_bad_option("bitlib keygen", argv[optind - 1]);
        }
    }
    if (!out || optind != argc) {
        fprintf(stderr, "bitlib keygen: needs -o KEY and nothing else; see "
                        "'bitlib keygen --help'\n");
        return 2;
    }
    char fpr[BL_SIGN_FPR_LEN];
    bl_err err;
    if (bl_sign_keygen(out, fpr, &err) < 0) {
        fprintf(stderr, "bitlib keygen: %s\n", err.msg);
        return 1;
    }
    printf("bitlib keygen: wrote %s (private, mode 0600) and %s.pub; fingerprint %s\n", out, out,
           fpr);
    return 0;
}

int cmd_sign(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"key", required_argument, NULL, 'k'},
        {"output", required_argument, NULL, 'o'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *key = NULL, *out = NULL;
    bool quiet = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "k:o:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'k': key = optarg; break;
        case 'o': out = optarg; break;
        case 'q': quiet = true; break;
        case 'h': fputs(sign_usage, stdout); return 0;
        default: return cli_bad_option("bitlib sign", argv[optind - 1]);
        }
    }
    if (!key || argc - optind != 1) {
        fprintf(stderr, "bitlib sign: needs DESC and --key KEY; see 'bitlib sign --help'\n");
        return 2;
    }
    const char *desc = argv[optind];
    if (!out)
        out = desc;
    bl_err err = {.offset = 0};
    bl_metainfo mi;
    /* parse first: only a description bitlib can use gets signed */
    if (bl_metainfo_load(&mi, desc, &err) < 0) {
        fprintf(stderr, "bitlib sign: %s\n", err.msg);
        return 1;
    }
    bl_signkey *k = bl_signkey_load(key, &err);
    if (!k) {
        fprintf(stderr, "bitlib sign: --key %s\n", err.msg);
        bl_metainfo_free(&mi);
        return 1;
    }
    bl_buf b;
    bl_buf_init(&b);
    int rc = 1;
    if (bl_sign_desc(mi.raw, mi.raw_len, k, &b, &err) < 0 ||
        cli_write_file(out, b.data, b.len, &err) < 0) {
        fprintf(stderr, "bitlib sign: %s\n", err.msg);
    } else {
        rc = 0;
        if (!quiet) {
            char fpr[BL_SIGN_FPR_LEN], hex[41];
            bl_signkey_fingerprint(k, fpr);
            bl_hex(mi.info_hash, BL_SHA1_LEN, hex);
            fprintf(stderr, "bitlib sign: wrote %s, signed by %s, info-hash %s (unchanged)\n",
                    out, fpr, hex);
        }
    }
    bl_buf_free(&b);
    bl_signkey_free(k);
    bl_metainfo_free(&mi);
    return rc;
}

int cmd_verify(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"trust", required_argument, NULL, CLI_OPT_TRUST},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "bitlib verify";
    cli_trust to = {.n = 0};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case CLI_OPT_TRUST:
            if (cli_trust_option(&to, optarg, cmd) < 0)
                return 2;
            break;
        case 'h': fputs(verify_usage, stdout); return 0;
        default: return cli_bad_option(cmd, argv[optind - 1]);
        }
    }
    if (argc - optind != 1) {
        fprintf(stderr, "%s: needs DESC; see '%s --help'\n", cmd, cmd);
        return 2;
    }
    const char *desc = argv[optind];
    bl_trust *t = malloc(sizeof *t);
    if (!t) {
        fprintf(stderr, "%s: out of memory\n", cmd);
        return 1;
    }
    int rc = 1;
    bl_metainfo mi;
    bl_err err = {.offset = 0};
    if (cli_trust_load(&to, t, cmd) < 0) {
        rc = 2;
    } else if (t->n == 0) {
        fprintf(stderr, "%s: no trusted keys: give --trust PUB (or install keys in %s)\n", cmd,
                getenv("BITLIB_TRUST_DIR") ? getenv("BITLIB_TRUST_DIR") : BL_TRUST_SITE_DIR);
        rc = 2;
    } else if (bl_metainfo_load(&mi, desc, &err) < 0) {
        fprintf(stderr, "%s: %s\n", cmd, err.msg);
    } else {
        if (bl_trust_check(t, &mi, NULL, &err) < 0) {
            fprintf(stderr, "%s: %s: %s\n", cmd, desc, err.msg);
        } else {
            bl_sigblock sb;
            uint8_t jd[BL_SIGN_DIGEST_LEN];
            char fpr[BL_SIGN_FPR_LEN], hex[41];
            (void)bl_sign_read(mi.raw, mi.raw_len, &sb, jd, NULL); /* checked just above */
            bl_sign_fingerprint(sb.key, fpr);
            bl_hex(mi.info_hash, BL_SHA1_LEN, hex);
            printf("%s: good signature by trusted key %s over info-hash %s and the per-job "
                   "section\n", desc, fpr, hex);
            rc = 0;
        }
        bl_metainfo_free(&mi);
    }
    free(t);
    return rc;
}
