################################################################################
#
# bootbox
#
################################################################################

# Built from this repository (the workspace root is two levels up from the
# BR2_EXTERNAL tree); only the bootbox binary crate is installed.
BOOTBOX_VERSION = 0.1.0
BOOTBOX_SITE = $(BR2_EXTERNAL_BOOTBOX_PATH)/..
BOOTBOX_SITE_METHOD = local
BOOTBOX_SUBDIR = appliance/bootbox
BOOTBOX_LICENSE = MIT or Apache-2.0
BOOTBOX_CARGO_BUILD_OPTS = --locked

$(eval $(cargo-package))
