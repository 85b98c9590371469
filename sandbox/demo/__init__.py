"""`python manage.py demo`: the whole pipeline on one machine, from service-order's events to the admin."""
