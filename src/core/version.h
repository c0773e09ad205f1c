/* version: the one place the release number lives. */
#ifndef BL_CORE_VERSION_H
#define BL_CORE_VERSION_H
#define BL_VERSION "0.1.0"
#endif
