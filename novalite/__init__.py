"""novalite: a compute control plane in the shape of OpenStack Nova."""

import warnings

# oslo.messaging imports oslo.service, which imports eventlet, which warns on import that
# it is deprecated. novalite runs on native threads and never uses eventlet; the warning
# would only alarm operators reading the service logs.
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
