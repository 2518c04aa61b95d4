# Pi health for `status` (parsed by health.py), read only where the host has it (a device
# tree: a board, not a lab container on amd64): SoC temperature, firmware throttling flags,
# the root device.
sec soc-temp; [ -r /proc/device-tree/model ] && cat /sys/class/thermal/thermal_zone0/temp 2>/dev/null
sec throttled; [ -r /proc/device-tree/model ] && { $SUDO vcgencmd get_throttled 2>/dev/null || cat /sys/devices/platform/soc/soc:firmware/get_throttled 2>/dev/null; }
sec root-device; d=$(readlink -f "/sys/dev/block/$(mountpoint -d / 2>/dev/null)" 2>/dev/null); if [ -n "$d" ] && [ -e "$d/dev" ]; then echo "$d"; cat "${d%%/block/*}/type" 2>/dev/null; fi
