# Addresses and routes (parsed by network.py), for `advertise` and for pools that collide
# with the LAN.
sec ip-addr; ip -o -4 addr show 2>/dev/null | awk '{print $2, $4}'
sec ip-route; ip -4 route show 2>/dev/null
