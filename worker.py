from mailer import create_app_or_exit

flask_app = create_app_or_exit()
celery = flask_app.extensions["celery"]
